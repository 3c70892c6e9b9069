"""The only composition root of the unibox service: runtime, the LeadUpserted projection consumer, one PlusVibe port
per platform workspace over the integration connected for it and the workspaces' webhook secrets (both fed by the
PlusVibeIntegrationChanged consumer) and the periodic jobs (a loop of the runtime, each job run for every served
workspace).

Events: consumed by the `runtime.add_consumer` calls below (`handlers/on_<event>.py`). EmailActivityReceived is
published by `handlers/receive_webhook.py` (PlusVibe's webhooks) and `handlers/poll_opens.py` (opens, which PlusVibe
sends no webhook for); ReplySent by `handlers/send_reply.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.topics import LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credentials import keyring_or_none
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import OnePort, PlusVibePorts
from servicekit.process.logging import configure_logging
from servicekit.process.runtime import ServiceRuntime
from servicekit.web.auth import ApiKey, load_api_keys
from unibox.adapters.plusvibe import connected_plusvibe
from unibox.adapters.thread_cache import PerWorkspace, TtlCache
from unibox.adapters.uow import UniboxUnitOfWork
from unibox.adapters.webhook_secrets import WebhookSecretCache, stored_webhook_secrets
from unibox.domain.threads import Thread
from unibox.handlers import on_lead_upserted, on_plusvibe_integration_changed
from unibox.handlers.periodic_jobs import PERIODIC_JOB_CONNECTIONS, run_periodic_jobs
from unibox.settings import UniboxSettings

MIGRATIONS = str(Path(__file__).parent / "migrations")


@dataclass
class UniboxService:
    settings: UniboxSettings
    runtime: ServiceRuntime[UniboxUnitOfWork]
    # The PlusVibe port of each platform workspace (one injected port for all when a test brought its own).
    ports: PlusVibePorts
    threads_cache: PerWorkspace[list[Thread]]
    api_keys: tuple[ApiKey, ...]
    webhook_secrets: WebhookSecretCache

    def uow(self) -> UniboxUnitOfWork:
        return self.runtime.uow()

    def plusvibe(self, workspace: str) -> PlusVibePort:
        """The port calling PlusVibe with the integration connected for `workspace`."""
        return self.ports.port(workspace)

    def connection(self, workspace: str) -> ConnectedPlusVibe | None:
        """`workspace`'s connection to its integration (None when a test injected a port of its own)."""
        return self.ports.connection(workspace)

    def integration_changed(self, workspace: str) -> None:
        """This process stored a newer integration for `workspace`: its PlusVibe port and webhook secret read it at
        once, and no thread listed from its previous PlusVibe workspace is served from the cache."""
        self.ports.invalidate(workspace)
        self.webhook_secrets.invalidate()
        self.threads_cache.clear(workspace)

    async def aclose(self) -> None:
        await self.ports.aclose()


def bootstrap(settings: UniboxSettings | None = None, *, plusvibe: PlusVibePort | None = None,
              plusvibe_ports: PlusVibePorts | None = None, plusvibe_settings: PlusVibeSettings | None = None,
              configure_logs: bool = False, **overrides: Any) -> UniboxService:
    """`plusvibe` injects a client or fake used for every workspace, `plusvibe_ports` one port per workspace;
    otherwise each workspace's port calls PlusVibe with the integration connected for it now (stored from
    PlusVibeIntegrationChanged, opened with `PLUSVIBE_KEK`), `default`'s while none is stored with `PLUSVIBE_*` (or
    `plusvibe_settings`). The webhook secrets open with that KEK in any case. Processes (not tests) pass
    `configure_logs=True` for structured logs."""
    if settings is None:
        settings = UniboxSettings(**overrides)
    elif overrides:
        settings = settings.model_copy(update=overrides)
    if configure_logs:
        configure_logging(settings.service_name, settings.log_level, json_output=settings.log_json)
    runtime = ServiceRuntime.create(settings, UniboxUnitOfWork, migrations=MIGRATIONS)
    pv_settings = plusvibe_settings or PlusVibeSettings()
    ports: PlusVibePorts
    if plusvibe_ports is not None:
        ports = plusvibe_ports
    elif plusvibe is not None:
        ports = OnePort(plusvibe, owned=True)  # the service closes the client it was given, as before
    else:
        ports = connected_plusvibe(pv_settings, runtime.uow, ttl_s=settings.integration_ttl_s)
    ttl_s = settings.threads_cache_ttl_s
    service = UniboxService(
        settings=settings,
        runtime=runtime,
        ports=ports,
        threads_cache=PerWorkspace(lambda: TtlCache(ttl_s)),
        api_keys=load_api_keys(settings.api_keys_json),
        # A malformed PLUSVIBE_KEK fails here, at start-up, not at the first delivery.
        webhook_secrets=stored_webhook_secrets(runtime.uow, keyring_or_none(pv_settings.kek),
                                               ttl_s=settings.integration_ttl_s),
    )
    runtime.add_consumer(LEAD_UPSERTED, "on_lead_upserted", on_lead_upserted.handle)
    runtime.add_consumer(PLUSVIBE_INTEGRATION_CHANGED, "on_plusvibe_integration_changed",
                         functools.partial(on_plusvibe_integration_changed.handle, changed=service.integration_changed))
    # Beside the consumer: the opens poller (each served workspace with its own port) and the webhook sweeper.
    runtime.add_loop("periodic-jobs", functools.partial(run_periodic_jobs, uows=runtime.uow, plusvibe=service.plusvibe,
                                                        settings=settings), connections=PERIODIC_JOB_CONNECTIONS)
    runtime.add_closer(service.aclose)
    return service
