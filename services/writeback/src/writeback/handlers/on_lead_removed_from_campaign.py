"""LeadRemovedFromCampaign → staged on the batch; applied set-wise (newest wins) when the kit commits the batch."""

from __future__ import annotations

from contracts.leads import LeadRemovedFromCampaign
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork


async def handle(item: Decoded, uow: WritebackUnitOfWork) -> None:
    if not isinstance(item.event, LeadRemovedFromCampaign):
        raise TypeError(f"expected LeadRemovedFromCampaign, got {type(item.event).__name__}")
    uow.batch.stage(item)
