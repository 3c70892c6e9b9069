"""First sync from PlusVibe (docs/FIRST-SYNC.md): `POST /api/plusvibe/sync` starts (or resumes) the workspace's sync
in the background of this API process, `GET /api/plusvibe/sync` shows the newest one with its progress."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, Request

from leads.adapters.orm import PlusVibeSyncRow
from leads.adapters.plusvibe_gateway import not_configured
from leads.entrypoints.api_errors import KeyCheck, answered, api_error
from leads.entrypoints.background import BackgroundJobs
from leads.entrypoints.schemas import Wire
from leads.handlers.first_sync import PAGE_SIZE, is_stale, newest_sync, run_sync, start_sync
from servicekit.web.auth import ApiKey, workspace_of

if TYPE_CHECKING:
    from leads.bootstrap import LeadsService

class SyncConflictOut(Wire):
    lead_id: str | None  # None: no single lead (several share the email, or the row's email is no address)
    email: str
    field: str  # campaign | first_name | last_name | email
    ours: str | None
    plusvibe: str | None


class PlusVibeSyncOut(Wire):
    """A sync and its progress: `pagesDone` pages of `pageSize` rows read, `seen` rows, and what they did."""

    id: str
    status: Literal["running", "done", "failed"]
    stalled: bool  # running, but its runner stopped beating (its process died): POST resumes it
    resumed: bool  # resumed at least once after a failure or a stop
    next_page: int
    page_size: int
    pages_done: int
    seen: int
    created: int
    linked: int
    unchanged: int
    conflict_count: int
    conflicts: list[SyncConflictOut]  # the first 500
    error: str | None
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    created_by: str


def sync_out(row: PlusVibeSyncRow, now: datetime) -> PlusVibeSyncOut:
    return PlusVibeSyncOut(
        id=str(row.id), status=row.status, stalled=is_stale(row, now), resumed=row.resumes > 0,
        next_page=row.next_page, page_size=PAGE_SIZE, pages_done=row.pages_done, seen=row.seen, created=row.created,
        linked=row.linked, unchanged=row.unchanged, conflict_count=row.conflict_count,
        conflicts=[SyncConflictOut.model_validate(c) for c in row.conflicts], error=row.error,
        started_at=row.started_at, heartbeat_at=row.heartbeat_at, finished_at=row.finished_at,
        created_by=row.created_by)


def plusvibe_sync_router(svc: LeadsService, *, read: KeyCheck, write: KeyCheck) -> APIRouter:
    router = APIRouter()
    uow = svc.runtime.uow
    background = BackgroundJobs()
    svc.runtime.add_closer(background.aclose)  # before the PlusVibe clients and the engine close

    @router.post("/api/plusvibe/sync", status_code=202, response_model=PlusVibeSyncOut, response_model_by_alias=True,
                 responses={409: {"description": "A sync of this workspace is running (`sync_running`)."},
                            503: {"description": "PlusVibe is not connected (`plusvibe_not_configured`)."}})
    async def start(request: Request, key: ApiKey = Depends(write)) -> PlusVibeSyncOut:
        """Starts the workspace's first sync from PlusVibe in the background, or resumes the newest one from its
        next page when it failed or its process died (same id, `resumed`). Poll GET for its progress."""
        workspace = workspace_of(request)
        if not await answered(svc.plusvibe_workspace_id(workspace)):
            raise api_error(not_configured())
        claimed = await answered(start_sync(uow(), workspace=workspace, actor=f"operator:{key.name}",
                                            now=datetime.now(UTC)))
        background.start(run_sync(claimed.job, uows=uow, plusvibe=svc.port(workspace)),
                         name=f"plusvibe-sync-{claimed.job.sync_id}")
        return sync_out(claimed.sync, datetime.now(UTC))

    @router.get("/api/plusvibe/sync", response_model=PlusVibeSyncOut, response_model_by_alias=True,
                responses={404: {"description": "The workspace never synced (`sync_not_found`)."}})
    async def newest(request: Request, _: ApiKey = Depends(read)) -> PlusVibeSyncOut:
        """The workspace's newest sync from PlusVibe with its progress and conflicts."""
        return sync_out(await answered(newest_sync(uow(), workspace=workspace_of(request))), datetime.now(UTC))

    return router
