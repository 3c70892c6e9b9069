"""CSV import (docs/CSV.md): `POST /api/leads/imports/uploads` (the file as the request body), `POST
/api/leads/imports/preview` (what an import would do), `POST /api/leads/imports` (start it), `GET
/api/leads/imports/{id}` (progress and result) and `GET /api/leads/imports/{id}/errors.csv` (the refused rows)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError
from sqlalchemy.exc import IntegrityError

from leads.adapters.orm import LeadImportRow
from leads.domain import csv_import as ci
from leads.domain.csv_export import BOM, neutralise
from leads.entrypoints import schemas as s
from leads.entrypoints.api_errors import KeyCheck, answered
from leads.entrypoints.background import BackgroundJobs
from leads.handlers import import_leads as imp
from servicekit.web.auth import ApiKey, workspace_of
from servicekit.web.http import ApiError

if TYPE_CHECKING:
    from leads.bootstrap import LeadsService

ERRORS_SHOWN = 100


class UploadOut(s.Wire):
    upload_id: uuid.UUID
    filename: str
    size: int
    rows: int
    headers: list[str]
    suggested_mapping: dict[str, str]  # lead field (or custom.<name>) → header
    sample: list[dict[str, str]]  # the first rows, header → cell
    fields: list[str]  # the lead fields a column may be mapped to (besides custom.<name>)


class ImportIn(s.WireIn):
    upload_id: uuid.UUID
    mapping: dict[str, Annotated[str, Field(max_length=300)]] = Field(max_length=60)
    dedupe: ci.Dedupe = "skip"
    match_by: ci.MatchBy = "email"
    on_errors: imp.OnErrors = "refuse"
    encoding: Literal["utf-8", "utf-16", "windows-1252", "latin-1"] | None = None

    def options(self) -> imp.ImportOptions:
        return imp.ImportOptions(mapping=dict(self.mapping), dedupe=self.dedupe, match_by=self.match_by,
                                 on_errors=self.on_errors, encoding=self.encoding)


class RowErrorOut(s.Wire):
    row: int
    column: str | None
    reason: str
    message: str


class PlannedRowOut(s.Wire):
    line: int
    action: str
    email: str | None
    domain: str | None
    detail: str | None


class PlanOut(s.Wire):
    rows: int
    create: int
    update: int
    skip: int
    failed: int
    sample: list[PlannedRowOut]
    errors: list[RowErrorOut]


class ImportOut(s.Wire):
    id: uuid.UUID
    status: Literal["running", "done", "refused", "failed", "interrupted"]
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    message: str | None
    errors: list[RowErrorOut]  # the first 100; every one in errorsUrl
    errors_url: str | None
    options: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = False  # the same file with the same options was imported before: this is that import


def import_out(row: LeadImportRow, *, replayed: bool = False) -> ImportOut:
    status = "interrupted" if imp.stale(row) else row.status
    message = ("The import stopped before it finished (its process ended); nothing was imported. Start it again."
               if status == "interrupted" else row.message)
    return ImportOut(
        id=row.id, status=status, total=row.total, processed=row.processed, created=row.created, updated=row.updated,
        skipped=row.skipped, failed=row.failed, message=message,
        errors=[RowErrorOut.model_validate(e) for e in row.errors[:ERRORS_SHOWN]],
        errors_url=f"/api/leads/imports/{row.id}/errors.csv" if row.errors else None, options=row.options,
        started_at=row.started_at, finished_at=row.finished_at, replayed=replayed)


def _target(loc: tuple[int | str, ...], values: dict[str, str]) -> str:
    if loc and loc[0] == "contact" and len(loc) > 1:
        return str(loc[1])
    if loc and loc[0] == "custom_fields":
        return next((k for k in values if k.startswith(ci.CUSTOM_PREFIX)), "custom_fields")
    return str(loc[0]) if loc else "row"


def row_rules(values: dict[str, str]) -> tuple[dict[str, str | None], dict[str, str]] | list[tuple[str, str]]:
    """A row's mapped values under the lead form's rules (the API's LeadCreate): normalised, or what is wrong."""
    custom = {k.removeprefix(ci.CUSTOM_PREFIX): v for k, v in values.items() if k.startswith(ci.CUSTOM_PREFIX) and v}
    try:
        lead = s.LeadCreate.model_validate({
            "company_name": values.get("company_name") or None, "domain": values.get("domain") or None,
            "notes": values.get("notes") or None, "custom_fields": custom or None,
            "contact": {k: values.get(k) or None for k in ("first_name", "last_name", "email", "title", "phone")}})
    except ValidationError as exc:
        return [(_target(e["loc"], values), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
    c = lead.contact
    return ({"company_name": lead.company_name, "domain": lead.domain, "first_name": c.first_name,
             "last_name": c.last_name, "email": c.email, "title": c.title, "phone": c.phone, "notes": lead.notes},
            lead.custom_fields or {})


def _import_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "import_not_found", "No import with that id.") from None


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = ApiError(413, "file_too_large",
                         f"The file is larger than {limit // (1024 * 1024)} MiB; split it into smaller files.")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def imports_router(svc: LeadsService, *, read: KeyCheck, write: KeyCheck) -> APIRouter:
    router = APIRouter()
    uow = svc.runtime.uow
    settings = svc.settings
    background = BackgroundJobs()
    svc.runtime.add_closer(background.aclose)

    def launch(row: LeadImportRow, workspace: str, actor: str) -> None:
        background.start(imp.run_import(row.id, workspace=workspace, actor=actor, rules=row_rules,
                                        max_rows=settings.import_max_rows, uows=uow), name=f"lead-import-{row.id}")

    @router.post("/api/leads/imports/uploads", status_code=201, response_model=UploadOut,
                 response_model_by_alias=True,
                 responses={413: {"description": "The file is larger than LEADS_IMPORT_MAX_BYTES."},
                            422: {"description": "The file cannot be read as CSV (encoding, header, rows)."}},
                 openapi_extra={"requestBody": {"required": True, "description": "The CSV file, as it is on disk.",
                                                "content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def upload(request: Request, filename: Annotated[str, Query(min_length=1, max_length=300)] = "leads.csv",
                     encoding: Literal["utf-8", "utf-16", "windows-1252", "latin-1"] | None = None,
                     key: ApiKey = Depends(write)) -> UploadOut:
        """Upload a CSV file (the request body, as sent: `text/csv`) for import. Answers its header, row count, the
        first rows and the suggested column mapping (the workspace's last one, then known column names)."""
        content = await _body(request, settings.import_max_bytes)
        preview = await answered(imp.upload_file(
            content, filename=filename, workspace=workspace_of(request), actor=f"operator:{key.name}",
            encoding=encoding, max_rows=settings.import_max_rows, uow=uow()))
        return UploadOut(upload_id=preview.upload_id, filename=preview.filename, size=preview.size, rows=preview.rows,
                         headers=list(preview.headers), suggested_mapping=preview.suggested_mapping,
                         sample=preview.sample, fields=list(ci.FIELDS))

    @router.post("/api/leads/imports/preview", response_model=PlanOut, response_model_by_alias=True)
    async def preview(body: ImportIn, request: Request, _: ApiKey = Depends(write)) -> PlanOut:
        """What importing the upload with these options would do, row by row (the first 20) — nothing is written."""
        plan = await answered(imp.preview_import(body.upload_id, body.options(), workspace=workspace_of(request),
                                                 rules=row_rules, max_rows=settings.import_max_rows, uow=uow()))
        return PlanOut(rows=plan.rows, create=plan.create, update=plan.update, skip=plan.skip, failed=plan.failed,
                       sample=[PlannedRowOut(line=r.line, action=r.action, email=r.email, domain=r.domain,
                                             detail=r.detail) for r in plan.sample],
                       errors=[RowErrorOut(row=p.row, column=p.column, reason=p.reason, message=p.message)
                               for p in plan.errors])

    @router.post("/api/leads/imports", status_code=202, response_model=ImportOut, response_model_by_alias=True,
                 responses={200: {"description": "The same file with the same options was imported before."},
                            422: {"description": "Rows are invalid and onErrors is `refuse`: nothing imported."}})
    async def start(body: ImportIn, request: Request, key: ApiKey = Depends(write)) -> Response:
        """Start importing the upload in the background (poll `GET /api/leads/imports/{id}`)."""
        workspace, actor = workspace_of(request), f"operator:{key.name}"

        async def started() -> imp.ImportStarted:
            return await imp.start_import(body.upload_id, body.options(), workspace=workspace, actor=actor,
                                          rules=row_rules, max_rows=settings.import_max_rows, uow=uow())
        try:
            result = await answered(started())
        except IntegrityError:  # the same import asked twice at once: the other request recorded it
            result = await answered(started())
        out = import_out(result.row, replayed=not result.start)
        if result.start:
            launch(result.row, workspace, actor)
        if out.status == "refused":
            return JSONResponse(status_code=422, content={
                "reason": "rows_invalid", "message": out.message, "import": out.model_dump(mode="json", by_alias=True)})
        return Response(out.model_dump_json(by_alias=True), status_code=202 if result.start else 200,
                        media_type="application/json")

    @router.get("/api/leads/imports/{import_id}", response_model=ImportOut, response_model_by_alias=True)
    async def status(import_id: str, request: Request, _: ApiKey = Depends(read)) -> ImportOut:
        """An import's progress (`processed` of `total`) while it runs, then its counts and refused rows."""
        return import_out(await answered(imp.import_status(_import_id(import_id), workspace=workspace_of(request),
                                                           uow=uow())))

    @router.get("/api/leads/imports/{import_id}/errors.csv", response_class=Response,
                responses={200: {"content": {"text/csv": {}}}})
    async def errors_csv(import_id: str, request: Request, _: ApiKey = Depends(read)) -> Response:
        """The refused rows as CSV: line, column, reason, message, then the row's cells as uploaded (formula-like
        cells neutralised), to fix and import again."""
        headers, rows = await answered(imp.error_rows(_import_id(import_id), workspace=workspace_of(request),
                                                      uow=uow()))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["line", "column", "reason", "message", *headers])
        for error, cells in rows:
            writer.writerow([neutralise(str(v)) for v in
                             (error["row"], error.get("column") or "", error["reason"], error["message"], *cells)])
        return Response(BOM + out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'})

    return router
