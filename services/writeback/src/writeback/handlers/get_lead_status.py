"""Use case: the writeback status of one lead of a workspace (last attempt, delivered?, error, payload keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from writeback.adapters.uow import WritebackUnitOfWork


async def handle(lead_id: UUID, workspace: str, uow: WritebackUnitOfWork,
                 ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """(projection row, last attempt row); both None when writeback has never heard of the lead in `workspace`
    (another workspace's lead is not revealed)."""
    async with uow:
        projection = await uow.repo.projection(lead_id, workspace)
        attempt = await uow.repo.last_attempt(lead_id, workspace)
    return projection, attempt
