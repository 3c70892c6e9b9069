"""The composition root of the leads service: settings → runtime (engine, UoW, broker, consumers) and the
PlusVibe client. Nothing is created at import time; tests call `bootstrap(settings, plusvibe=fake)`."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

from contracts import topics
from contracts.integrations import DEFAULT_WORKSPACE
from leads.adapters.batch_locks import with_batch_leads_locked
from leads.adapters.campaigns import CampaignDirectory
from leads.adapters.plusvibe_gateway import not_configured, stored_credentials
from leads.adapters.uow import LeadsUnitOfWork
from leads.handlers import on_audit_events, on_email_activity_received, on_writeback_events
from leads.handlers.check_campaign_templates import check_campaign_templates
from leads.settings import LeadsSettings
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credentials import Credentials, KeyRing, keyring_or_none
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
    # The port over the connected integration (None when a test injected a port of its own).
    connection: ConnectedPlusVibe | None = None
    keyring: KeyRing | None = None
    workspace: str = DEFAULT_WORKSPACE

    def env_credentials(self) -> Credentials | None:
        """The key and workspace the environment configures (used until an integration is stored)."""
        if self.connection is not None:
            return self.connection.env_credentials()
        cfg = self.plusvibe_settings
        return Credentials(cfg.api_key, cfg.workspace_id) if cfg and cfg.api_key.get_secret_value() \
            and cfg.workspace_id else None

    async def plusvibe_workspace_id(self) -> str:
        """The PlusVibe workspace calls go to now ("" when PlusVibe is not connected)."""
        if self.connection is not None:
            creds = await self.connection.credentials()
            return creds.workspace_id if creds is not None else ""
        return self.plusvibe_settings.workspace_id if self.plusvibe_settings is not None else ""

    def register_loops(self) -> None:
        """The service's own loops, beside the consumers: the periodic check of campaigns edited after enrolment
        (handlers/check_campaign_templates.py), when PlusVibe is configured and the interval is above 0 (read
        when the loop starts, so a test may shorten it after the bootstrap)."""
        if self.settings.template_check_interval_s <= 0 or (self.connection is None
                                                              and self.plusvibe_settings is None):
            return

        async def check() -> object:
            workspace_id = await self.plusvibe_workspace_id()
            if not workspace_id:
                return None  # not connected (yet): nothing to check
            return await check_campaign_templates(self.runtime.uow, self.campaigns,
                                                  configured_storage=self.settings.plusvibe_custom_storage,
                                                  workspace_id=workspace_id)

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
    connection: ConnectedPlusVibe | None = None
    if plusvibe is None:
        plusvibe_settings = plusvibe_settings or PlusVibeSettings()
        keyring = keyring_or_none(plusvibe_settings.kek)
        connection = ConnectedPlusVibe(plusvibe_settings, stored_credentials(runtime.uow, DEFAULT_WORKSPACE, keyring),
                                       ttl_s=settings.integration_ttl_s, not_configured=not_configured)
        plusvibe = connection.as_port()
    else:  # a test's port; its settings (if any) still name the KEK the Integrations routes seal with
        keyring = keyring_or_none(plusvibe_settings.kek) if plusvibe_settings is not None else None
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
        connection=connection,
        keyring=keyring,
    )
    service.register_loops()
    return service
