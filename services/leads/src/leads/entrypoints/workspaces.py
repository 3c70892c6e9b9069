"""`GET /api/workspaces`: the platform workspaces the caller's API key reaches, each with its PlusVibe connection
state, for the dashboard's workspace switcher (docs/WORKSPACES.md). The one route about a key rather than about one
workspace: it resolves no workspace, so an `X-Workspace` header changes nothing here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends

from leads.entrypoints.schemas import Wire
from leads.handlers import plusvibe_integration
from servicekit.web.auth import ApiKey, reachable_workspaces, require_key

if TYPE_CHECKING:
    from leads.bootstrap import LeadsService


class WorkspaceOut(Wire):
    id: str
    # PlusVibe connected (an integration stored, or for `default` the environment's key).
    connected: bool
    plusvibe_workspace_name: str


def workspaces_router(svc: LeadsService) -> APIRouter:
    router = APIRouter()
    reader = require_key(svc.api_keys, "leads:read")

    @router.get("/api/workspaces", response_model=list[WorkspaceOut], response_model_by_alias=True)
    async def workspaces(key: ApiKey = Depends(reader)) -> list[WorkspaceOut]:
        """The served workspaces this key reaches, `default` first."""
        out = []
        for name in reachable_workspaces(key, svc.settings.served_workspaces()):
            # Only `default` falls back to the environment's PlusVibe key (plusvibe.workspace_ports).
            view = await plusvibe_integration.status(svc.runtime.uow, workspace=name, env=svc.env_credentials(name))
            out.append(WorkspaceOut(id=name, connected=view.connected,
                                    plusvibe_workspace_name=view.plusvibe_workspace_name))
        return out

    return router
