"""The first sync's reads and writes (table `plusvibe_syncs`, and the leads it matches by email)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from leads.adapters.orm import LeadRow, PlusVibeSyncRow


class SyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_workspace(self, workspace: str) -> None:
        """Serialises the starts of one workspace's syncs until the transaction ends (two operators pressing Sync
        at once: the second sees the first's sync running)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                       {"key": f"plusvibe-sync:{workspace}"})

    async def newest(self, workspace: str, *, for_update: bool = False) -> PlusVibeSyncRow | None:
        query = (select(PlusVibeSyncRow).where(PlusVibeSyncRow.workspace == workspace)
                 .order_by(PlusVibeSyncRow.started_at.desc(), PlusVibeSyncRow.id).limit(1))
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, sync_id: uuid.UUID, *, for_update: bool = False) -> PlusVibeSyncRow | None:
        query = select(PlusVibeSyncRow).where(PlusVibeSyncRow.id == sync_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, row: PlusVibeSyncRow) -> None:
        self.session.add(row)

    async def beat(self, sync_id: uuid.UUID, runner: uuid.UUID, now: datetime) -> bool:
        """The runner is alive; False when the sync is no longer its own (ended, or taken over)."""
        result = await self.session.execute(
            update(PlusVibeSyncRow)
            .where(PlusVibeSyncRow.id == sync_id, PlusVibeSyncRow.runner == runner,
                   PlusVibeSyncRow.status == "running")
            .values(heartbeat_at=now).execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    async def live_leads_with_emails(self, workspace: str, emails: Collection[str]) -> list[LeadRow]:
        """The workspace's leads (deleted ones left out) whose email is one of `emails` (lower case), locked for
        this transaction in id order."""
        if not emails:
            return []
        query = (select(LeadRow)
                 .where(LeadRow.workspace == workspace, LeadRow.deleted_at.is_(None),
                        func.lower(LeadRow.email).in_(sorted(emails)))
                 .order_by(LeadRow.id).with_for_update())
        return list((await self.session.execute(query)).scalars())
