"""POST thread read: PlusVibe mark-as-read (idempotent) with the workspace's port, then ThreadMarkedRead via the
outbox, in that workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from contracts.unibox import ThreadMarkedRead
from plusvibe.port import PlusVibePort
from unibox.adapters.uow import UniboxUnitOfWork

UowFactory = Callable[[], UniboxUnitOfWork]


async def mark_read(thread_id: str, email: str | None, *, uows: UowFactory, pv: PlusVibePort,
                    workspace: str) -> datetime:
    """`pv`: `workspace`'s port, so a thread of another workspace's PlusVibe account is unknown (NotFoundError, as
    any unknown thread). Raises the client's errors; emits only after PlusVibe agreed."""
    await pv.mark_thread_read(thread_id)
    now = datetime.now(UTC)
    async with uows() as uow:
        lead = await uow.leads.find(workspace, email) if email else None
        lead_id = lead.lead_id if lead is not None else None
        uow.publish(ThreadMarkedRead(thread_id=thread_id, lead_id=lead_id, marked_at=now), lead_id=lead_id,
                    workspace_id=workspace)
        await uow.commit()
    return now
