"""The audits HTTP API: `GET /api/audits/{id}` (scope `audits:read`, the runs of the request's workspace only) and
the public, unguessable report page `GET /r/{slug}` (no key, any workspace: the 192-bit slug is the capability)."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from audits.adapters.orm import AuditRunRow
from audits.bootstrap import AuditsService, bootstrap
from audits.domain.profile import summary
from audits.domain.result import AuditResult
from audits.entrypoints import schemas as s
from audits.entrypoints.report_page import not_found_page, render_report
from audits.settings import AuditsSettings
from servicekit.process.pooling import checked_app, size_pool
from servicekit.web.auth import ApiKey, require_scope, workspace_of
from servicekit.web.http import ApiError, create_service_app

_SLUG: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REPORT_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, max-age=300",
}


def run_out(row: AuditRunRow, settings: AuditsSettings) -> s.AuditRunOut:
    done = row.status == "completed"
    result = row.checks if done else None
    return s.AuditRunOut(
        id=row.id, lead_id=row.lead_id, domain=row.domain, status=row.status,
        requested_at=row.requested_at, started_at=row.started_at, finished_at=row.finished_at,
        attempts=row.attempts, error_kind=row.error_kind, error_message=row.error_message, grade=row.grade,
        score=row.score, categories=row.categories,
        checks=[s.CheckOut.model_validate(c) for c in result.get("checks", [])] if result else None,
        profile=row.profile, report_url=settings.report_url(row.report_slug) if done else None, result=result,
    )


def build_router(svc: AuditsService) -> APIRouter:
    read = require_scope(svc.api_keys, "audits:read", svc.settings.served_workspaces())
    uow = svc.runtime.uow
    router = APIRouter()

    @router.get("/api/audits/{audit_id}", response_model=s.AuditRunOut, response_model_by_alias=True)
    async def get_audit(audit_id: str, request: Request, _: ApiKey = Depends(read)) -> s.AuditRunOut:
        try:
            run_id = uuid.UUID(audit_id)
        except ValueError:
            raise ApiError(404, "audit_not_found", "No audit run with that id (not a UUID).") from None
        async with uow() as tx:  # rows expire when the read-only transaction rolls back: map them inside
            # Another workspace's run answers exactly as a missing one: its existence is not revealed.
            row = await tx.runs.in_workspace(run_id, workspace_of(request))
            if row is None:
                raise ApiError(404, "audit_not_found", "No audit run with that id.")
            return run_out(row, svc.settings)

    @router.get("/r/{slug}", response_class=HTMLResponse, include_in_schema=False)
    async def report(slug: str) -> HTMLResponse:
        if not _SLUG.match(slug):
            return HTMLResponse(not_found_page(), status_code=404, headers=REPORT_HEADERS)
        async with uow() as tx:
            row = await tx.runs.by_slug(slug)
            if row is None or row.status != "completed" or not row.checks:
                return HTMLResponse(not_found_page(), status_code=404, headers=REPORT_HEADERS)
            stored, grade, score = row.checks, row.grade, row.score
            domain, categories, profile = row.domain, row.categories or {}, row.profile or {}
        result = AuditResult.model_validate(stored)
        page = render_report(
            domain=domain, grade=grade or result.grade, score=score if score is not None else result.score,
            categories=categories, result=stored, profile=profile, summary=summary(result),
            audited_at=result.audited_at,
        )
        return HTMLResponse(page, headers=REPORT_HEADERS)

    return router


def create_app(
    settings: AuditsSettings | None = None,
    *,
    embedded_workers: bool = False,
    service: AuditsService | None = None,
    **overrides: Any,
) -> FastAPI:
    """`embedded_workers` also runs the consumer, the relay and the audit worker in this process."""
    svc = service or bootstrap(settings, **overrides)
    app = create_service_app(svc.runtime, title="Audits API", routers=[build_router(svc)],
                             embedded_workers=embedded_workers)
    app.state.service = svc
    return app


def app_factory() -> FastAPI:
    """`uvicorn --factory audits.entrypoints.http:app_factory`"""
    svc = bootstrap(configure_logs=True)
    size_pool(svc.runtime, "api")
    return checked_app(create_app(service=svc), svc.runtime)
