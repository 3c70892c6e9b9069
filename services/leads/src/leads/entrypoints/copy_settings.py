"""Copy settings (docs/COPY-SETTINGS.md): `GET /api/copy-settings`, `PUT /api/copy-settings/default` (the workspace's
tone) and `PUT /api/copy-settings/campaigns/{campaign_id}` (a campaign's tone and step count; null inherits)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from contracts.copy_settings import COPY_TONES, DEFAULT_COPY_TONE, MAX_COPY_STEPS, CopyTone
from leads.entrypoints.api_errors import KeyCheck, answered
from leads.entrypoints.schemas import Wire, WireIn
from leads.handlers.copy_settings import DEFAULT, SavedSetting, copy_settings, save_copy_setting
from servicekit.web.auth import ApiKey, workspace_of
from servicekit.web.http import ApiError

if TYPE_CHECKING:
    from leads.bootstrap import LeadsService

CAMPAIGN_ID = r"[A-Za-z0-9_\-]{1,100}"


class CopySettingOut(Wire):
    campaign_id: str | None  # null: the workspace default
    tone: str | None  # null: the workspace default's
    steps: int | None  # null: as many as the campaign has
    version: int
    updated_at: datetime
    updated_by: str


class CopySettingsOut(Wire):
    tones: list[str]
    default_tone: str  # the workspace default in force (the built-in one until an operator saves one)
    default: CopySettingOut | None  # the saved default, if any
    campaigns: list[CopySettingOut]


class DefaultCopyIn(WireIn):
    tone: CopyTone


class CampaignCopyIn(WireIn):
    tone: CopyTone | None = None
    steps: int | None = Field(default=None, ge=1, le=MAX_COPY_STEPS)


def _out(saved: SavedSetting) -> CopySettingOut:
    return CopySettingOut(campaign_id=saved.campaign_id or None, tone=saved.tone, steps=saved.steps,
                          version=saved.version, updated_at=saved.updated_at, updated_by=saved.updated_by)


def copy_settings_router(svc: LeadsService, *, read: KeyCheck, write: KeyCheck) -> APIRouter:
    router = APIRouter()
    uow = svc.runtime.uow

    async def save(request: Request, key: ApiKey, campaign_id: str, tone: str | None, steps: int | None
                   ) -> CopySettingOut:
        return _out(await answered(save_copy_setting(uow(), workspace=workspace_of(request), campaign_id=campaign_id,
                                                     tone=tone, steps=steps, actor=f"operator:{key.name}")))

    @router.get("/api/copy-settings", response_model=CopySettingsOut, response_model_by_alias=True)
    async def settings(request: Request, _: ApiKey = Depends(read)) -> CopySettingsOut:
        """The workspace's copy settings: its default tone and every campaign's own setting."""
        saved = await copy_settings(uow(), workspace=workspace_of(request))
        default = saved.get(DEFAULT)
        return CopySettingsOut(tones=list(COPY_TONES), default_tone=(default.tone if default else None)
                               or DEFAULT_COPY_TONE, default=_out(default) if default else None,
                               campaigns=[_out(s) for cid, s in sorted(saved.items()) if cid != DEFAULT])

    @router.put("/api/copy-settings/default", response_model=CopySettingOut, response_model_by_alias=True)
    async def put_default(body: DefaultCopyIn, request: Request, key: ApiKey = Depends(write)) -> CopySettingOut:
        """The workspace's default tone: every campaign without a tone of its own is written in it."""
        return await save(request, key, DEFAULT, body.tone, None)

    @router.put("/api/copy-settings/campaigns/{campaign_id}", response_model=CopySettingOut,
                response_model_by_alias=True)
    async def put_campaign(campaign_id: str, body: CampaignCopyIn, request: Request,
                           key: ApiKey = Depends(write)) -> CopySettingOut:
        """A campaign's tone (null: the workspace default's) and step count (null: as many as the campaign has in
        PlusVibe). The next writeback of each of its leads (automatic, or PlusVibe Writeback) uses it."""
        if not re.fullmatch(CAMPAIGN_ID, campaign_id):
            raise ApiError(422, "campaign_id_invalid", "A campaign id is 1–100 letters, digits, '_' or '-'.")
        return await save(request, key, campaign_id, body.tone, body.steps)

    return router
