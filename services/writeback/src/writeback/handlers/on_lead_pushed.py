"""LeadPushed → staged on the batch; applied set-wise (newest wins) when the kit commits the batch."""

from __future__ import annotations

from contracts.leads import LeadPushed
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork


async def handle(item: Decoded, uow: WritebackUnitOfWork) -> None:
    if not isinstance(item.event, LeadPushed):
        raise TypeError(f"expected LeadPushed, got {type(item.event).__name__}")
    uow.batch.stage(item)
