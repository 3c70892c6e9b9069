"""AuditCompleted → the lead's newest audit, and a writeback of the copy it makes: announced at once for a lead
not linked to a campaign, delivered to PlusVibe by `deliver_writebacks` for a linked one. A replayed or stale
audit writes nothing back."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from contracts.audits import AuditCompleted
from servicekit.messaging.consumer import batch_handler
from servicekit.messaging.events import Decoded
from servicekit.process.tracing import traceparent_now
from writeback.adapters.lead_batch import announce_and_wake, apply_in_batch
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.domain.projection import AuditOrder, LeadState
from writeback.domain.writebacks import BatchPlan

log = logging.getLogger(__name__)


def _apply(plan: BatchPlan, state: LeadState, item: Decoded) -> None:
    event = item.event
    if not isinstance(event, AuditCompleted):
        raise TypeError(f"expected AuditCompleted, got {type(event).__name__}")
    if plan.audit_completed(state, event, item.envelope, traceparent_now()) is AuditOrder.STALE:
        log.info("stale AuditCompleted ignored", extra={"fields": {"audit_run_id": str(event.audit_run_id)}})


@batch_handler
async def handle(items: Sequence[Decoded], uow: WritebackUnitOfWork) -> None:
    plan = await apply_in_batch(items, uow, _apply)
    # Produces WritebackCompleted (delivered=false) for each lead not linked to a campaign; a linked lead's
    # writeback is delivered, and its WritebackCompleted/WritebackFailed produced, by the delivery loop.
    announce_and_wake(plan, uow)
