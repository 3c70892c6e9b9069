"""The read-only writeback API: `GET /api/writeback/leads/{id}` (scope `writeback:read`; the leads of the request's
workspace only: another workspace's lead answers as an unknown one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from servicekit.process.logging import configure_logging
from servicekit.process.pooling import checked_app, size_pool
from servicekit.web.auth import load_api_keys, require_scope, workspace_of
from servicekit.web.http import ApiError, create_service_app
from writeback.bootstrap import WritebackService, bootstrap
from writeback.handlers import get_lead_status
from writeback.settings import WritebackSettings


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class AttemptOut(_Wire):
    attempt_id: UUID
    audit_run_id: UUID
    kind: str
    request_id: UUID | None
    status: str
    delivered: bool
    error: str | None
    attempts: int
    campaign_id: str | None
    steps: int | None
    payload_hash: str | None
    payload_keys: list[str]
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    next_try_at: datetime | None


class LeadWritebackOut(_Wire):
    lead_id: UUID
    campaign_id: str | None
    audit_run_id: UUID | None
    delivered: bool
    error: str | None
    payload_keys: list[str]
    last_attempt: AttemptOut | None


def _attempt_out(row: Any) -> AttemptOut:
    return AttemptOut(
        attempt_id=row["id"], audit_run_id=row["audit_run_id"], kind=row["kind"], request_id=row["request_id"],
        status=row["status"], delivered=row["delivered"], error=row["error"], attempts=row["attempts"],
        campaign_id=row["campaign_id"], steps=row["steps"], payload_hash=row["payload_hash"],
        payload_keys=list(row["payload_keys"] or []), created_at=row["created_at"], updated_at=row["updated_at"],
        completed_at=row["completed_at"], next_try_at=row["next_try_at"],
    )


def router(service: WritebackService) -> APIRouter:
    keys = load_api_keys(service.settings.api_keys_json)
    api = APIRouter(prefix="/api/writeback", tags=["writeback"])

    @api.get("/leads/{lead_id}", response_model=LeadWritebackOut, response_model_by_alias=True,
             dependencies=[Depends(require_scope(keys, "writeback:read", service.settings.served_workspaces()))])
    async def lead_status(lead_id: UUID, request: Request) -> LeadWritebackOut:
        projection, attempt = await get_lead_status.handle(lead_id, workspace_of(request), service.runtime.uow())
        if projection is None and attempt is None:
            raise ApiError(404, "lead_not_found", "Writeback has no record of this lead.")
        last = _attempt_out(attempt) if attempt is not None else None
        return LeadWritebackOut(
            lead_id=lead_id,
            campaign_id=projection["campaign_id"] if projection is not None else None,
            audit_run_id=projection["audit_run_id"] if projection is not None else None,
            delivered=bool(last and last.delivered),
            error=last.error if last else None,
            payload_keys=last.payload_keys if last else [],
            last_attempt=last,
        )

    return api


def create_app(settings: WritebackSettings | None = None, *, embedded_workers: bool = False,
               service: WritebackService | None = None, **overrides: Any) -> FastAPI:
    """`embedded_workers` also runs the consumers, the delivery worker and the relay in this process."""
    svc = service or bootstrap(settings, **overrides)
    return create_service_app(svc.runtime, title="writeback", routers=[router(svc)],
                              embedded_workers=embedded_workers)


def app_factory() -> FastAPI:
    """`uvicorn --factory writeback.entrypoints.http:app_factory` (the same name in every service)."""
    svc = bootstrap()
    s = svc.settings
    configure_logging(s.service_name, s.log_level, json_output=s.log_json)
    size_pool(svc.runtime, "api")
    return checked_app(create_app(service=svc), svc.runtime)
