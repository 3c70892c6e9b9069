"""Use case: the writeback status of one lead (last attempt, delivered?, error, payload keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from writeback.adapters.uow import WritebackUnitOfWork


async def handle(lead_id: UUID, uow: WritebackUnitOfWork) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """(projection row, last attempt row); both None when writeback has never heard of the lead."""
    async with uow:
        projection = await uow.repo.projection(lead_id)
        attempt = await uow.repo.last_attempt(lead_id)
    return projection, attempt
