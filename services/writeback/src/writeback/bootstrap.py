"""The composition root: runtime, PlusVibe client, step cache, the consumers (each event's handler in
`handlers/on_<event>.py`, applying its batch set-wise) and the delivery loop (`handlers/deliver_writebacks.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.topics import (
    AUDIT_COMPLETED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_UPSERTED,
    WRITEBACK_REQUESTED,
)
from copywriter import Tone
from plusvibe.client import PlusVibeClient
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.uow import OutboxSignal
from servicekit.process.runtime import ServiceRuntime
from writeback.adapters.steps import StepCache
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.handlers import (
    on_audit_completed,
    on_lead_pushed,
    on_lead_removed_from_campaign,
    on_lead_upserted,
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


def bootstrap(settings: WritebackSettings | None = None, *, plusvibe: PlusVibePort | None = None,
              plusvibe_settings: PlusVibeSettings | None = None, **overrides: Any) -> WritebackService:
    """`plusvibe` injects a fake port; otherwise a client is built from `PLUSVIBE_*` (or `plusvibe_settings`)."""
    s = settings or WritebackSettings(**overrides)
    if settings is not None and overrides:
        s = settings.model_copy(update=overrides)
    tone = Tone(s.copy_tone)
    delivery_signal = OutboxSignal()
    runtime = ServiceRuntime.create(s, WritebackUnitOfWork, migrations=MIGRATIONS, tone=tone,
                                    delivery_signal=delivery_signal)
    port: PlusVibePort
    if plusvibe is None:
        client = PlusVibeClient(plusvibe_settings or PlusVibeSettings())
        runtime.add_closer(client.aclose)  # built here, closed here; an injected port belongs to its caller
        port = client
    else:
        port = plusvibe
    runtime.add_consumer(LEAD_UPSERTED, "on_lead_upserted", on_lead_upserted.handle)
    runtime.add_consumer(LEAD_PUSHED, "on_lead_pushed", on_lead_pushed.handle)
    runtime.add_consumer(LEAD_REMOVED_FROM_CAMPAIGN, "on_lead_removed_from_campaign",
                         on_lead_removed_from_campaign.handle)
    runtime.add_consumer(AUDIT_COMPLETED, "on_audit_completed", on_audit_completed.handle)
    runtime.add_consumer(WRITEBACK_REQUESTED, "on_writeback_requested",
                         on_writeback_requested.handle)
    worker = DeliveryWorker(runtime.uow, port, StepCache(port, s.step_cache_ttl_s), s, tone, delivery_signal)
    # Beside the consumers: the delivery worker. Each of its parallel sends claims and records in short
    # transactions of its own (never during the PlusVibe call): one connection per send at most.
    runtime.add_loop("delivery", worker.run, connections=s.delivery_concurrency)
    return WritebackService(settings=s, runtime=runtime, plusvibe=port, delivery=worker)
