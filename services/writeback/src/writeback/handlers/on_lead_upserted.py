"""LeadUpserted → the lead's contact and campaign link in the projection (newest snapshot wins); no writeback."""

from __future__ import annotations

from collections.abc import Sequence

from servicekit.messaging.consumer import batch_handler
from servicekit.messaging.events import Decoded
from writeback.adapters.lead_batch import apply_in_batch
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.domain.projection import LeadState
from writeback.domain.writebacks import BatchPlan


def _apply(plan: BatchPlan, state: LeadState, item: Decoded) -> None:
    plan.project(state, item.event, item.envelope)


@batch_handler
async def handle(items: Sequence[Decoded], uow: WritebackUnitOfWork) -> None:
    await apply_in_batch(items, uow, _apply)
