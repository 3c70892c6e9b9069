"""The workspace's PlusVibe system alerts (table `plusvibe_alerts`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leads.adapters.orm import PlusVibeAlertRow

OPEN_ALERTS_SHOWN = 100


class AlertRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, row: PlusVibeAlertRow) -> bool:
        """Keep the alert unless its event was kept before (the inbox already drops redeliveries; a replay through
        a reset inbox still adds nothing)."""
        if await self.session.get(PlusVibeAlertRow, row.id) is not None:
            return False
        self.session.add(row)
        return True

    async def get(self, alert_id: uuid.UUID, *, workspace: str, for_update: bool = False) -> PlusVibeAlertRow | None:
        query = select(PlusVibeAlertRow).where(PlusVibeAlertRow.id == alert_id, PlusVibeAlertRow.workspace == workspace)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def open(self, *, workspace: str, limit: int = OPEN_ALERTS_SHOWN) -> list[PlusVibeAlertRow]:
        """The workspace's alerts no operator has dismissed, newest first."""
        query = (select(PlusVibeAlertRow)
                 .where(PlusVibeAlertRow.workspace == workspace, PlusVibeAlertRow.dismissed_at.is_(None))
                 .order_by(PlusVibeAlertRow.observed_at.desc(), PlusVibeAlertRow.id).limit(limit))
        return list((await self.session.execute(query)).scalars())

    async def open_of_campaigns(self, *, workspace: str, limit: int = 1000) -> list[PlusVibeAlertRow]:
        """The workspace's open alerts that name a campaign, newest first (for each campaign's newest: apart from the
        shown list, so many alerts about mailboxes never hide a campaign's)."""
        query = (select(PlusVibeAlertRow)
                 .where(PlusVibeAlertRow.workspace == workspace, PlusVibeAlertRow.dismissed_at.is_(None),
                        PlusVibeAlertRow.campaign_id.is_not(None))
                 .order_by(PlusVibeAlertRow.observed_at.desc(), PlusVibeAlertRow.id).limit(limit))
        return list((await self.session.execute(query)).scalars())

    @staticmethod
    def dismiss(row: PlusVibeAlertRow, *, actor: str, now: datetime) -> None:
        if row.dismissed_at is None:
            row.dismissed_at = now
            row.dismissed_by = actor
