"""The only composition root of the unibox service: runtime, the LeadUpserted projection consumer, the PlusVibe
client over the connected integration and the workspaces' webhook secrets (both fed by the PlusVibeIntegrationChanged
consumer) and the periodic jobs (a loop of the runtime)."""

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
from servicekit.process.logging import configure_logging
from servicekit.process.runtime import ServiceRuntime
from servicekit.web.auth import ApiKey, load_api_keys
from unibox.adapters.plusvibe import connected_plusvibe
from unibox.adapters.thread_cache import TtlCache
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
    plusvibe: PlusVibePort
    threads_cache: TtlCache[list[Thread]]
    api_keys: tuple[ApiKey, ...]
    webhook_secrets: WebhookSecretCache
    # The port over the connected integration (None when a test injected a port of its own).
    connection: ConnectedPlusVibe | None = None

    def uow(self) -> UniboxUnitOfWork:
        return self.runtime.uow()

    def integration_changed(self) -> None:
        """This process stored a newer integration: its PlusVibe port and webhook secrets read it at once, and no
        thread listed from the previous PlusVibe workspace is served from the cache."""
        if self.connection is not None:
            self.connection.invalidate()
        self.webhook_secrets.invalidate()
        self.threads_cache.clear()

    async def aclose(self) -> None:
        close = getattr(self.plusvibe, "aclose", None)
        if close is not None:
            await close()


def bootstrap(settings: UniboxSettings | None = None, *, plusvibe: PlusVibePort | None = None,
              plusvibe_settings: PlusVibeSettings | None = None, configure_logs: bool = False,
              **overrides: Any) -> UniboxService:
    """`plusvibe` injects a client or fake; otherwise the port calls PlusVibe with the integration connected now
    (stored from PlusVibeIntegrationChanged, opened with `PLUSVIBE_KEK`), or while none is stored with `PLUSVIBE_*`
    (or `plusvibe_settings`). The webhook secrets open with that KEK in either case. Processes (not tests) pass
    `configure_logs=True` for structured logs."""
    if settings is None:
        settings = UniboxSettings(**overrides)
    elif overrides:
        settings = settings.model_copy(update=overrides)
    if configure_logs:
        configure_logging(settings.service_name, settings.log_level, json_output=settings.log_json)
    runtime = ServiceRuntime.create(settings, UniboxUnitOfWork, migrations=MIGRATIONS)
    pv_settings = plusvibe_settings or PlusVibeSettings()
    connection: ConnectedPlusVibe | None = None
    if plusvibe is None:
        connection = connected_plusvibe(pv_settings, runtime.uow, ttl_s=settings.integration_ttl_s)
        plusvibe = connection.as_port()
    service = UniboxService(
        settings=settings,
        runtime=runtime,
        plusvibe=plusvibe,
        threads_cache=TtlCache(settings.threads_cache_ttl_s),
        api_keys=load_api_keys(settings.api_keys_json),
        # A malformed PLUSVIBE_KEK fails here, at start-up, not at the first delivery.
        webhook_secrets=stored_webhook_secrets(runtime.uow, keyring_or_none(pv_settings.kek),
                                               ttl_s=settings.integration_ttl_s),
        connection=connection,
    )
    runtime.add_consumer(LEAD_UPSERTED, "on_lead_upserted", on_lead_upserted.handle)
    runtime.add_consumer(PLUSVIBE_INTEGRATION_CHANGED, "on_plusvibe_integration_changed",
                         functools.partial(on_plusvibe_integration_changed.handle, changed=service.integration_changed))
    # Beside the consumer: the opens poller and the webhook sweeper.
    runtime.add_loop("periodic-jobs", functools.partial(run_periodic_jobs, uows=runtime.uow, plusvibe=service.plusvibe,
                                                        settings=settings), connections=PERIODIC_JOB_CONNECTIONS)
    runtime.add_closer(service.aclose)
    return service
