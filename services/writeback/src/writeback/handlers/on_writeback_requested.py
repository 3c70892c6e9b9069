"""WritebackRequested (an operator's "PlusVibe Writeback") → a writeback of the lead's current copy to the
requested campaign (or its own), once per request id, even when the copy was written back before."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.leads import WritebackRequested
from servicekit.messaging.consumer import batch_handler
from servicekit.messaging.events import Decoded
from servicekit.process.tracing import traceparent_now
from writeback.adapters.lead_batch import announce_and_wake, apply_in_batch
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.domain.projection import LeadState
from writeback.domain.writebacks import BatchPlan


def _apply(plan: BatchPlan, state: LeadState, item: Decoded) -> None:
    event = item.event
    if not isinstance(event, WritebackRequested):
        raise TypeError(f"expected WritebackRequested, got {type(event).__name__}")
    plan.writeback_requested(state, event, item.envelope, traceparent_now())


@batch_handler
async def handle(items: Sequence[Decoded], uow: WritebackUnitOfWork) -> None:
    plan = await apply_in_batch(items, uow, _apply)
    # Produces WritebackCompleted (delivered=false) for each lead not linked to a campaign; a linked lead's
    # writeback is delivered, and its WritebackCompleted/WritebackFailed produced, by the delivery loop.
    announce_and_wake(plan, uow)
