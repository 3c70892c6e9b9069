"""The workspace's copy settings (table `copy_settings`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from copywriter import CopySetting, Tone
from leads.adapters.orm import CopySettingsRow


def as_setting(row: CopySettingsRow | None) -> CopySetting | None:
    """A stored row as the copy rule's setting (None: nothing stored)."""
    return CopySetting(Tone(row.tone) if row.tone else None, row.steps) if row is not None else None


class CopySettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_workspace(self, workspace: str) -> dict[str, CopySettingsRow]:
        """campaign id ("" the default) → its setting."""
        rows = await self.session.execute(select(CopySettingsRow).where(CopySettingsRow.workspace == workspace))
        return {row.campaign_id: row for row in rows.scalars()}

    async def pair(self, workspace: str, campaign_id: str) -> tuple[CopySettingsRow | None, CopySettingsRow | None]:
        """(the campaign's setting, the workspace default) in one query."""
        wanted = {campaign_id, ""}
        rows = await self.session.execute(select(CopySettingsRow).where(
            CopySettingsRow.workspace == workspace, CopySettingsRow.campaign_id.in_(wanted)))
        found = {row.campaign_id: row for row in rows.scalars()}
        return (found.get(campaign_id) if campaign_id else None), found.get("")

    async def locked(self, workspace: str, campaign_id: str, *, now: datetime, actor: str) -> CopySettingsRow:
        """The setting, locked for this transaction; made first (version 0, nothing chosen) if there is none, so two
        operators saving at once are serialised rather than one of them failing on the key."""
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await self.session.execute(insert(CopySettingsRow).values(
            workspace=workspace, campaign_id=campaign_id, tone=None, steps=None, version=0, updated_at=now,
            updated_by=actor).on_conflict_do_nothing(index_elements=["workspace", "campaign_id"]))
        query = (select(CopySettingsRow)
                 .where(CopySettingsRow.workspace == workspace, CopySettingsRow.campaign_id == campaign_id)
                 .with_for_update())
        return (await self.session.execute(query)).scalar_one()
