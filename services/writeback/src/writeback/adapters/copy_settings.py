"""The copy settings writeback keeps (table `copy_settings`): the newest CopySettingsChanged of each workspace and
campaign (campaign "" the workspace default), and the reads of the delivery loop and of a consumer batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.copy_settings import CopySettingsChanged
from copywriter import CopySetting, Tone
from servicekit.process.db import one_of
from writeback.adapters.orm import copy_settings

DEFAULT_CAMPAIGN = ""  # the campaign id of a workspace's default setting
_VALUES = ("tone", "steps", "version", "changed_at")


class CopySettingsRepository:
    """Reads and the newest-wins write of `copy_settings`, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def keep_newest(self, event: CopySettingsChanged) -> bool:
        """Stores the announced setting unless this version or a newer one of its workspace and campaign is stored;
        True when stored."""
        t = copy_settings
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        stmt = dialect.insert(t).values(workspace=event.workspace, campaign_id=event.campaign_id,
                                        **{name: getattr(event, name) for name in _VALUES})
        stmt = stmt.on_conflict_do_update(index_elements=["workspace", "campaign_id"],
                                          set_={name: stmt.excluded[name] for name in _VALUES},
                                          where=t.c.version < stmt.excluded.version)
        return bool(getattr(await self.session.execute(stmt), "rowcount", 0))

    async def for_campaign(self, workspace: str, campaign_id: str | None
                           ) -> tuple[CopySetting | None, CopySetting | None]:
        """(the campaign's setting, the workspace default), each None when none is stored; one query."""
        t = copy_settings
        wanted = {DEFAULT_CAMPAIGN, campaign_id or DEFAULT_CAMPAIGN}
        rows = (await self.session.execute(
            select(t.c.campaign_id, t.c.tone, t.c.steps)
            .where(t.c.workspace == workspace, one_of(t.c.campaign_id, sorted(wanted), self._dialect)))).all()
        found = {row.campaign_id: _setting(row) for row in rows}
        campaign = found.get(campaign_id) if campaign_id else None
        return campaign, found.get(DEFAULT_CAMPAIGN)

    async def defaults(self, workspaces: Iterable[str]) -> dict[str, CopySetting]:
        """The default setting of each of these workspaces that has one stored; one query."""
        names = sorted(set(workspaces))
        if not names:
            return {}
        t = copy_settings
        rows = (await self.session.execute(
            select(t.c.workspace, t.c.tone, t.c.steps)
            .where(one_of(t.c.workspace, names, self._dialect), t.c.campaign_id == DEFAULT_CAMPAIGN))).all()
        return {row.workspace: _setting(row) for row in rows}


def _setting(row: Any) -> CopySetting:
    return CopySetting(tone=Tone(row.tone) if row.tone is not None else None, steps=row.steps)
