"""Copy under the operator's control (docs/COPY-SETTINGS.md): the tone (and optionally the step count) copy is
written in, per campaign of the workspace, with a workspace default. Leads owns the setting and announces every
change (CopySettingsChanged, keyed per workspace and campaign); writeback writes PlusVibe's variables with it, and
leads uses it for Generate Email, the push's fill-in copy and the send preview. A save that changes nothing is not
announced again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.copy_settings import CopySettingsChanged, copy_settings_key
from copywriter import CopyChoice, CopySetting, Tone, choose_copy
from leads.adapters.copy_settings import as_setting
from leads.adapters.orm import CopySettingsRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal

DEFAULT = ""  # the campaign id of the workspace default


@dataclass(frozen=True)
class SavedSetting:
    campaign_id: str  # "" for the workspace default
    tone: str | None
    steps: int | None
    version: int
    updated_at: datetime
    updated_by: str


def _saved(row: CopySettingsRow) -> SavedSetting:
    return SavedSetting(row.campaign_id, row.tone, row.steps, row.version, row.updated_at, row.updated_by)


async def copy_settings(uow: LeadsUnitOfWork, *, workspace: str) -> dict[str, SavedSetting]:
    """Every saved setting of the workspace: campaign id ("" the default) → setting."""
    async with uow:
        return {cid: _saved(row) for cid, row in (await uow.copy.of_workspace(workspace)).items() if row.version}


async def choice_for(uow: LeadsUnitOfWork, *, workspace: str, campaign_id: str | None) -> CopyChoice:
    """The tone and steps a campaign's copy is written in (no campaign: the workspace default's tone)."""
    async with uow:  # the rows expire when the transaction ends: read them inside it
        campaign, default = await uow.copy.pair(workspace, campaign_id or "")
        return choose_copy(as_setting(campaign), as_setting(default))


def choices(settings: dict[str, SavedSetting], campaign_ids: list[str]) -> dict[str, CopyChoice]:
    """Each campaign's choice from the workspace's saved settings (one read for a whole campaign list)."""
    def setting(saved: SavedSetting | None) -> CopySetting | None:
        return CopySetting(Tone(saved.tone) if saved.tone else None, saved.steps) if saved is not None else None

    base = setting(settings.get(DEFAULT))
    return {cid: choose_copy(setting(settings.get(cid)), base) for cid in campaign_ids}


async def save_copy_setting(uow: LeadsUnitOfWork, *, workspace: str, campaign_id: str, tone: str | None,
                            steps: int | None, actor: str) -> SavedSetting:
    """Saves one setting (the default: `campaign_id` "", a tone required, no steps) and announces it."""
    if campaign_id == DEFAULT and (tone is None or steps is not None):
        raise Refusal("invalid", "default_needs_tone", "The workspace default is a tone (and no step count).")
    now = datetime.now(UTC)
    async with uow:
        row = await uow.copy.locked(workspace, campaign_id, now=now, actor=actor)
        if row.version and (row.tone, row.steps) == (tone, steps):
            return _saved(row)  # nothing changed: nothing to announce
        row.tone, row.steps, row.version, row.updated_at, row.updated_by = tone, steps, row.version + 1, now, actor
        uow.publish(CopySettingsChanged(workspace=workspace, campaign_id=campaign_id, tone=tone, steps=steps,
                                        version=row.version, changed_at=now),
                    workspace_id=workspace, key=copy_settings_key(workspace, campaign_id))
        saved = _saved(row)
        await uow.commit()
        return saved
