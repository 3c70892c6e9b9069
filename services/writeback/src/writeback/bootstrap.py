"""The composition root: runtime, PlusVibe client (over the connected integration), step cache, the consumers (each
event's handler in `handlers/on_<event>.py`, applying its batch set-wise) and the delivery loop
(`handlers/deliver_writebacks.py`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.topics import (
    AUDIT_COMPLETED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_UPSERTED,
    PLUSVIBE_INTEGRATION_CHANGED,
    WRITEBACK_REQUESTED,
)
from copywriter import Tone
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.uow import OutboxSignal
from servicekit.process.runtime import ServiceRuntime
from writeback.adapters.plusvibe import connected_plusvibe
from writeback.adapters.steps import StepCache
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.handlers import (
    on_audit_completed,
    on_lead_pushed,
    on_lead_removed_from_campaign,
    on_lead_upserted,
    on_plusvibe_integration_changed,
    on_writeback_requested,
)
from writeback.handlers.deliver_writebacks import DeliveryWorker
from writeback.settings import WritebackSettings

MIGRATIONS = str(Path(__file__).parent / "migrations")


@dataclass
class WritebackService:
    settings: WritebackSettings
    runtime: ServiceRuntime[WritebackUnitOfWork]
    plusvibe: PlusVibePort
    delivery: DeliveryWorker
    # The port over the connected integration (None when a test injected a port of its own).
    connection: ConnectedPlusVibe | None = None


def bootstrap(settings: WritebackSettings | None = None, *, plusvibe: PlusVibePort | None = None,
              plusvibe_settings: PlusVibeSettings | None = None, **overrides: Any) -> WritebackService:
    """`plusvibe` injects a fake port; otherwise the port calls PlusVibe with the integration connected now (stored
    from PlusVibeIntegrationChanged, opened with `PLUSVIBE_KEK`), or while none is stored with `PLUSVIBE_*` (or
    `plusvibe_settings`)."""
    s = settings or WritebackSettings(**overrides)
    if settings is not None and overrides:
        s = settings.model_copy(update=overrides)
    tone = Tone(s.copy_tone)
    delivery_signal = OutboxSignal()
    runtime = ServiceRuntime.create(s, WritebackUnitOfWork, migrations=MIGRATIONS, tone=tone,
                                    delivery_signal=delivery_signal)
    port: PlusVibePort
    connection: ConnectedPlusVibe | None = None
    if plusvibe is None:
        connection = connected_plusvibe(plusvibe_settings or PlusVibeSettings(), runtime.uow,
                                        ttl_s=s.integration_ttl_s)
        runtime.add_closer(connection.aclose)  # built here, closed here; an injected port belongs to its caller
        port = connection.as_port()
    else:
        port = plusvibe
    runtime.add_consumer(LEAD_UPSERTED, "on_lead_upserted", on_lead_upserted.handle)
    runtime.add_consumer(LEAD_PUSHED, "on_lead_pushed", on_lead_pushed.handle)
    runtime.add_consumer(LEAD_REMOVED_FROM_CAMPAIGN, "on_lead_removed_from_campaign",
                         on_lead_removed_from_campaign.handle)
    runtime.add_consumer(AUDIT_COMPLETED, "on_audit_completed", on_audit_completed.handle)
    runtime.add_consumer(WRITEBACK_REQUESTED, "on_writeback_requested",
                         on_writeback_requested.handle)
    runtime.add_consumer(PLUSVIBE_INTEGRATION_CHANGED, "on_plusvibe_integration_changed",
                         functools.partial(on_plusvibe_integration_changed.handle,
                                           changed=connection.invalidate if connection is not None else None))
    worker = DeliveryWorker(runtime.uow, port, StepCache(port, s.step_cache_ttl_s), s, tone, delivery_signal)
    # Beside the consumers: the delivery worker. Each of its parallel sends claims and records in short
    # transactions of its own (never during the PlusVibe call): one connection per send at most.
    runtime.add_loop("delivery", worker.run, connections=s.delivery_concurrency)
    return WritebackService(settings=s, runtime=runtime, plusvibe=port, delivery=worker, connection=connection)
