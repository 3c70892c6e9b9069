"""The composition root of the leads service: settings → runtime (engine, UoW, broker, consumers) and the
PlusVibe client. Nothing is created at import time; tests call `bootstrap(settings, plusvibe=fake)`.

Events (every publish goes through the outbox of its use case's transaction):
- consumed: the `runtime.add_consumer` calls below, one `handlers/on_<event>.py` each (`handle`);
- LeadUpserted and LeadStatusChanged: `adapters/lead_changes.py` (`announce`, `apply_status`), which every handler
  that changes a lead calls (create, edit, delete, import, first sync, start audit, push, the consumers);
- AuditRequested: `handlers/start_audit.py`; LeadPushed: `handlers/push_leads.py`;
- WritebackRequested: `handlers/request_writeback.py` (PlusVibe Writeback) and `handlers/check_campaign_templates.py`
  (a refresh after a campaign edit), both through `adapters/lead_changes.writeback_requested`;
- LeadSendAtRisk: `handlers/check_campaign_templates.py`;
- LeadCompletedInCampaign, LeadRemovedFromCampaign: `handlers/campaign_membership.py`;
- CopySettingsChanged: `handlers/copy_settings.py`; PlusVibeIntegrationChanged: `handlers/plusvibe_integration.py`.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from pathlib import Path

from contracts import topics
from contracts.integrations import DEFAULT_WORKSPACE
from leads.adapters.batch_locks import with_batch_leads_locked
from leads.adapters.campaigns import CampaignDirectory
from leads.adapters.plusvibe_gateway import connected_ports
from leads.adapters.uow import LeadsUnitOfWork
from leads.handlers import (
    on_audit_completed,
    on_audit_failed,
    on_audit_started,
    on_email_activity_received,
    on_writeback_completed,
    on_writeback_failed,
)
from leads.handlers.check_campaign_templates import CheckReport, check_connected_workspaces
from leads.settings import LeadsSettings
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credentials import Credentials, KeyRing, keyring_or_none
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import OnePort, PlusVibePorts
from servicekit.process.logging import configure_logging
from servicekit.process.runtime import ServiceRuntime, run_every
from servicekit.web.auth import ApiKey, load_api_keys

MIGRATIONS = str(Path(__file__).parent / "migrations")


@dataclass
class LeadsService:
    settings: LeadsSettings
    runtime: ServiceRuntime[LeadsUnitOfWork]
    # The PlusVibe port of each platform workspace (one injected port for all when a test brought its own).
    ports: PlusVibePorts
    plusvibe_settings: PlusVibeSettings | None
    api_keys: tuple[ApiKey, ...]
    keyring: KeyRing | None = None
    # The workspace of the process-wide commands (`reseal_keys`) and of the `default`-only conveniences below.
    workspace: str = DEFAULT_WORKSPACE
    # Each workspace's campaigns, cached apart: two workspaces connect different PlusVibe workspaces.
    _directories: dict[str, CampaignDirectory] = field(default_factory=dict)

    def port(self, workspace: str) -> PlusVibePort:
        """The port calling PlusVibe with the integration connected for `workspace`."""
        return self.ports.port(workspace)

    def campaigns_for(self, workspace: str) -> CampaignDirectory:
        directory = self._directories.get(workspace)
        if directory is None:
            directory = self._directories[workspace] = CampaignDirectory(
                self.port(workspace), ttl_s=self.settings.campaign_cache_ttl_s)
        return directory

    def integration_changed(self, workspace: str) -> None:
        """This process changed `workspace`'s integration: its port resolves the credentials again at once (the
        other processes within the TTL), and no campaign of its previous PlusVibe workspace is served from cache."""
        self.ports.invalidate(workspace)
        self._directories.pop(workspace, None)

    # The `default` workspace's port, directory and connection (scripts, benchmarks and tests of one workspace).
    @property
    def plusvibe(self) -> PlusVibePort:
        return self.port(DEFAULT_WORKSPACE)

    @property
    def campaigns(self) -> CampaignDirectory:
        return self.campaigns_for(DEFAULT_WORKSPACE)

    @property
    def connection(self) -> ConnectedPlusVibe | None:
        return self.ports.connection(DEFAULT_WORKSPACE)

    def env_credentials(self, workspace: str = DEFAULT_WORKSPACE) -> Credentials | None:
        """The key and workspace the environment configures, used until an integration is stored: `default`'s
        only (any other workspace calls PlusVibe only with the key connected for it)."""
        if workspace != DEFAULT_WORKSPACE:
            return None
        connection = self.ports.connection(workspace)
        if connection is not None:
            return connection.env_credentials()
        cfg = self.plusvibe_settings
        return Credentials(cfg.api_key, cfg.workspace_id) if cfg and cfg.api_key.get_secret_value() \
            and cfg.workspace_id else None

    async def plusvibe_workspace_id(self, workspace: str = DEFAULT_WORKSPACE) -> str:
        """The PlusVibe workspace `workspace`'s calls go to now ("" when it is not connected)."""
        connection = self.ports.connection(workspace)
        if connection is not None:
            creds = await connection.credentials()
            return creds.workspace_id if creds is not None else ""
        env = self.env_credentials(workspace)
        return env.workspace_id if env is not None else ""

    async def check_templates(self) -> dict[str, CheckReport]:
        """One pass of the template check over the served workspaces (handlers/check_campaign_templates.py)."""
        return await check_connected_workspaces(
            self.runtime.uow, self.settings.served_workspaces(), plusvibe_workspace_of=self.plusvibe_workspace_id,
            campaigns_of=self.campaigns_for, configured_storage=self.settings.plusvibe_custom_storage)

    def register_loops(self) -> None:
        """The service's own loops, beside the consumers: the periodic check of campaigns edited after enrolment
        (handlers/check_campaign_templates.py), when the interval is above 0 (read when the loop starts, so a test
        may shorten it after the bootstrap)."""
        if self.settings.template_check_interval_s <= 0:
            return

        async def template_check(stop: asyncio.Event) -> None:
            await run_every(self.settings.template_check_interval_s, self.check_templates, stop, "template-check")

        # Each run is one transaction at a time: one connection.
        self.runtime.add_loop("template-check", template_check, connections=1)

    async def aclose(self) -> None:
        await self.ports.aclose()


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
        plusvibe_settings = plusvibe_settings or PlusVibeSettings()
        keyring = keyring_or_none(plusvibe_settings.kek)
        ports: PlusVibePorts = connected_ports(plusvibe_settings, runtime.uow, keyring,
                                               ttl_s=settings.integration_ttl_s)
    else:  # a test's port; its settings (if any) still name the KEK the Integrations routes seal with
        keyring = keyring_or_none(plusvibe_settings.kek) if plusvibe_settings is not None else None
        ports = OnePort(plusvibe)
    runtime.add_consumer(topics.AUDIT_STARTED, "on_audit_started",
                         with_batch_leads_locked(on_audit_started.handle))
    runtime.add_consumer(topics.AUDIT_COMPLETED, "on_audit_completed",
                         with_batch_leads_locked(on_audit_completed.handle))
    runtime.add_consumer(topics.AUDIT_FAILED, "on_audit_failed",
                         with_batch_leads_locked(on_audit_failed.handle))
    runtime.add_consumer(topics.WRITEBACK_COMPLETED, "on_writeback_completed",
                         with_batch_leads_locked(on_writeback_completed.handle))
    runtime.add_consumer(topics.WRITEBACK_FAILED, "on_writeback_failed",
                         with_batch_leads_locked(on_writeback_failed.handle))
    runtime.add_consumer(
        topics.EMAIL_ACTIVITY_RECEIVED, "on_email_activity_received",
        functools.partial(on_email_activity_received.handle,
                          converting_labels=frozenset(settings.converting_labels)),
    )
    service = LeadsService(
        settings=settings,
        runtime=runtime,
        ports=ports,
        plusvibe_settings=plusvibe_settings,
        api_keys=load_api_keys(settings.api_keys_json),
        keyring=keyring,
    )
    service.register_loops()
    runtime.add_closer(service.aclose)
    return service
