"""The composition root: runtime, PlusVibe ports (one per platform workspace, over its connected integration), step
cache, the consumers (each event's handler in `handlers/on_<event>.py`, applying its batch set-wise; the copy
settings from leads' CopySettingsChanged) and the delivery loop (`handlers/deliver_writebacks.py`).

Events: consumed by the `runtime.add_consumer` calls below, one `handlers/on_<event>.py` each. WritebackCompleted and
WritebackFailed are published by `handlers/deliver_writebacks.py` (the delivery loop: linked leads, after PlusVibe),
and WritebackCompleted for a lead without a campaign by `handlers/on_audit_completed.py` and
`handlers/on_writeback_requested.py` (through `adapters/lead_batch.announce_and_wake`); every WritebackCompleted is
built by `domain/attempts.completed`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import (
    AUDIT_COMPLETED,
    COPY_SETTINGS_CHANGED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_UPSERTED,
    PLUSVIBE_INTEGRATION_CHANGED,
    WRITEBACK_REQUESTED,
)
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import WorkspacePorts
from servicekit.messaging.uow import OutboxSignal
from servicekit.process.runtime import ServiceRuntime
from writeback.adapters.plusvibe import connected_plusvibe
from writeback.adapters.steps import StepCache
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.handlers import (
    on_audit_completed,
    on_copy_settings_changed,
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
    # The PlusVibe port of a platform workspace.
    ports: Callable[[str], PlusVibePort]
    delivery: DeliveryWorker
    # The ports over each workspace's connected integration (None when a test injected ports of its own).
    workspace_ports: WorkspacePorts | None = None

    @property
    def plusvibe(self) -> PlusVibePort:
        """The `default` workspace's port."""
        return self.ports(DEFAULT_WORKSPACE)

    @property
    def connection(self) -> ConnectedPlusVibe | None:
        """The `default` workspace's connected integration (None when a test injected ports)."""
        return self.workspace_ports.connection(DEFAULT_WORKSPACE) if self.workspace_ports is not None else None


def bootstrap(settings: WritebackSettings | None = None, *, plusvibe: PlusVibePort | None = None,
              plusvibe_ports: Callable[[str], PlusVibePort] | None = None,
              plusvibe_settings: PlusVibeSettings | None = None, **overrides: Any) -> WritebackService:
    """`plusvibe` injects one fake port for every workspace, `plusvibe_ports` one per workspace; otherwise each
    workspace's port calls PlusVibe with the integration connected now for it (stored from
    PlusVibeIntegrationChanged, opened with `PLUSVIBE_KEK`), or for `default` while none is stored with `PLUSVIBE_*`
    (or `plusvibe_settings`)."""
    s = settings or WritebackSettings(**overrides)
    if settings is not None and overrides:
        s = settings.model_copy(update=overrides)
    delivery_signal = OutboxSignal()
    runtime = ServiceRuntime.create(s, WritebackUnitOfWork, migrations=MIGRATIONS, delivery_signal=delivery_signal)
    ports, connected = _ports(runtime, s, plusvibe, plusvibe_ports, plusvibe_settings)
    runtime.add_consumer(LEAD_UPSERTED, "on_lead_upserted", on_lead_upserted.handle, linger_ms=s.snapshot_linger_ms)
    runtime.add_consumer(LEAD_PUSHED, "on_lead_pushed", on_lead_pushed.handle)
    runtime.add_consumer(LEAD_REMOVED_FROM_CAMPAIGN, "on_lead_removed_from_campaign",
                         on_lead_removed_from_campaign.handle)
    runtime.add_consumer(AUDIT_COMPLETED, "on_audit_completed", on_audit_completed.handle)
    runtime.add_consumer(WRITEBACK_REQUESTED, "on_writeback_requested",
                         on_writeback_requested.handle)
    runtime.add_consumer(PLUSVIBE_INTEGRATION_CHANGED, "on_plusvibe_integration_changed",
                         functools.partial(on_plusvibe_integration_changed.handle,
                                           changed=connected.invalidate if connected is not None else None))
    runtime.add_consumer(COPY_SETTINGS_CHANGED, "on_copy_settings_changed", on_copy_settings_changed.handle)
    worker = DeliveryWorker(runtime.uow, ports, StepCache(ports, s.step_cache_ttl_s), s, delivery_signal)
    # Beside the consumers: the delivery worker. Each of its parallel sends claims and records in short
    # transactions of its own (never during the PlusVibe call): one connection per send at most.
    runtime.add_loop("delivery", worker.run, connections=s.delivery_concurrency)
    return WritebackService(settings=s, runtime=runtime, ports=ports, delivery=worker, workspace_ports=connected)


def _ports(runtime: ServiceRuntime[WritebackUnitOfWork], s: WritebackSettings, plusvibe: PlusVibePort | None,
           plusvibe_ports: Callable[[str], PlusVibePort] | None, plusvibe_settings: PlusVibeSettings | None,
           ) -> tuple[Callable[[str], PlusVibePort], WorkspacePorts | None]:
    """The port of each workspace, and the connected integrations behind them unless a test injected ports."""
    if plusvibe is not None:
        return (lambda _workspace: plusvibe), None
    if plusvibe_ports is not None:
        return plusvibe_ports, None
    connected = connected_plusvibe(plusvibe_settings or PlusVibeSettings(), runtime.uow, ttl_s=s.integration_ttl_s)
    runtime.add_closer(connected.aclose)  # built here, closed here; injected ports belong to their caller
    return connected.port, connected
