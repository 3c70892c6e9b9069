"""PlusVibe's system alerts of the workspace (docs/CAMPAIGN-STATES.md): `GET /api/plusvibe/alerts` (the open ones,
newest first) and `POST /api/plusvibe/alerts/{id}/dismiss`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request

from leads.entrypoints import schemas as s
from leads.entrypoints import views
from leads.entrypoints.api_errors import KeyCheck, answered
from leads.handlers.plusvibe_alerts import dismiss_alert, open_alerts
from servicekit.web.auth import ApiKey, workspace_of
from servicekit.web.http import ApiError

if TYPE_CHECKING:
    from leads.bootstrap import LeadsService



def alerts_router(svc: LeadsService, *, read: KeyCheck, write: KeyCheck) -> APIRouter:
    router = APIRouter()
    uow = svc.runtime.uow

    @router.get("/api/plusvibe/alerts", response_model=list[s.AlertOut], response_model_by_alias=True)
    async def alerts(request: Request, _: ApiKey = Depends(read)) -> list[s.AlertOut]:
        """The workspace's PlusVibe alerts no operator has dismissed, newest first (at most 100)."""
        return [views.alert_out(a) for a in await open_alerts(uow(), workspace=workspace_of(request))]

    @router.post("/api/plusvibe/alerts/{alert_id}/dismiss", response_model=s.AlertOut, response_model_by_alias=True,
                 responses={404: {"description": "No alert with that id in this workspace."}})
    async def dismiss(alert_id: str, request: Request, key: ApiKey = Depends(write)) -> s.AlertOut:
        """Marks the alert seen: it leaves the open list (a second dismiss changes nothing)."""
        try:
            wanted = uuid.UUID(alert_id)
        except ValueError:
            raise ApiError(404, "alert_not_found", "No alert with that id.") from None
        row = await answered(dismiss_alert(wanted, workspace=workspace_of(request), actor=f"operator:{key.name}",
                                           uow=uow()))
        return views.alert_out(row)

    return router
