"""The composition root of the leads service: settings → runtime (engine, UoW, broker, consumers) and the
PlusVibe client. Nothing is created at import time; tests call `bootstrap(settings, plusvibe=fake)`."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from contracts import topics
from leads.adapters.batch_locks import with_batch_leads_locked
from leads.adapters.campaigns import CampaignDirectory
from leads.adapters.plusvibe_gateway import UnconfiguredPlusVibe
from leads.adapters.uow import LeadsUnitOfWork
from leads.handlers import on_audit_events, on_email_activity_received, on_writeback_events
from leads.handlers.check_campaign_templates import check_campaign_templates
from leads.settings import LeadsSettings
from plusvibe.client import PlusVibeClient
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from servicekit.process.logging import configure_logging
from servicekit.process.runtime import ServiceRuntime, run_every
from servicekit.web.auth import ApiKey, load_api_keys

MIGRATIONS = str(Path(__file__).parent / "migrations")


@dataclass
class LeadsService:
    settings: LeadsSettings
    runtime: ServiceRuntime[LeadsUnitOfWork]
    plusvibe: PlusVibePort
    plusvibe_settings: PlusVibeSettings | None
    campaigns: CampaignDirectory
    api_keys: tuple[ApiKey, ...]

    @property
    def plusvibe_configured(self) -> bool:
        return self.plusvibe_settings is not None

    @property
    def workspace_id(self) -> str:
        """The PlusVibe workspace this deployment serves ("" when PlusVibe is not configured)."""
        return self.plusvibe_settings.workspace_id if self.plusvibe_settings is not None else ""

    def register_loops(self) -> None:
        """The service's own loops, beside the consumers: the periodic check of campaigns edited after enrolment
        (handlers/check_campaign_templates.py), when PlusVibe is configured and the interval is above 0 (read
        when the loop starts, so a test may shorten it after the bootstrap)."""
        if self.settings.template_check_interval_s <= 0 or not self.plusvibe_configured:
            return

        async def check() -> object:
            return await check_campaign_templates(self.runtime.uow, self.campaigns,
                                                  configured_storage=self.settings.plusvibe_custom_storage,
                                                  workspace_id=self.workspace_id)

        async def template_check(stop: asyncio.Event) -> None:
            await run_every(self.settings.template_check_interval_s, check, stop, "template-check")

        # Each run is one transaction at a time: one connection.
        self.runtime.add_loop("template-check", template_check, connections=1)

def bootstrap(
    settings: LeadsSettings | None = None,
    *,
    plusvibe: PlusVibePort | None = None,
    plusvibe_settings: PlusVibeSettings | None = None,
    configure_logs: bool = False,
) -> LeadsService:
    settings = settings or LeadsSettings()
    if configure_logs:
        configure_logging(settings.service_name, settings.log_level, json_output=settings.log_json)
    runtime = ServiceRuntime.create(settings, LeadsUnitOfWork, migrations=MIGRATIONS)
    if plusvibe is None:
        pv_settings = plusvibe_settings or PlusVibeSettings()
        if pv_settings.api_key.get_secret_value() and pv_settings.workspace_id:
            plusvibe = PlusVibeClient(pv_settings)
            plusvibe_settings = pv_settings
        else:
            plusvibe = cast(PlusVibePort, UnconfiguredPlusVibe())
            plusvibe_settings = None
    runtime.add_consumer(topics.AUDIT_STARTED, "on_audit_started",
                         with_batch_leads_locked(on_audit_events.on_audit_started))
    runtime.add_consumer(topics.AUDIT_COMPLETED, "on_audit_completed",
                         with_batch_leads_locked(on_audit_events.on_audit_completed))
    runtime.add_consumer(topics.AUDIT_FAILED, "on_audit_failed",
                         with_batch_leads_locked(on_audit_events.on_audit_failed))
    runtime.add_consumer(topics.WRITEBACK_COMPLETED, "on_writeback_completed",
                         with_batch_leads_locked(on_writeback_events.on_writeback_completed))
    runtime.add_consumer(topics.WRITEBACK_FAILED, "on_writeback_failed",
                         with_batch_leads_locked(on_writeback_events.on_writeback_failed))
    runtime.add_consumer(
        topics.EMAIL_ACTIVITY_RECEIVED, "on_email_activity_received",
        functools.partial(on_email_activity_received.on_email_activity_received,
                          converting_labels=frozenset(settings.converting_labels)),
    )
    service = LeadsService(
        settings=settings,
        runtime=runtime,
        plusvibe=plusvibe,
        plusvibe_settings=plusvibe_settings,
        campaigns=CampaignDirectory(plusvibe, ttl_s=settings.campaign_cache_ttl_s),
        api_keys=load_api_keys(settings.api_keys_json),
    )
    service.register_loops()
    return service
