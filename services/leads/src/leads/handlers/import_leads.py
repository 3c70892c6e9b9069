"""Import leads from a CSV file (docs/CSV.md): upload the file, then start an import of it with a column mapping and a
dedupe choice; the import runs in the background and reports progress.

Nothing half-imported: every lead of an import is written in ONE transaction (with its history and LeadUpserted in
the outbox), so an import that fails or whose process dies leaves no lead behind; its row then says so and the same
request starts it again. Progress is written beside it in short transactions of their own. Imports of one workspace
run one at a time (a transaction-scoped advisory lock), so two imports of overlapping files cannot both create the
same lead. The same file with the same options is the same import (`idempotency_key`): asking again answers the
import already made instead of importing twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select

from contracts.status import LeadStatus
from leads.adapters.imports import ImportRepository
from leads.adapters.lead_changes import announce
from leads.adapters.orm import ImportUploadRow, LeadImportRow, LeadRow, detached
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import csv_import as ci
from leads.domain.refusals import Refusal

log = logging.getLogger(__name__)
ACTOR_REASON = "imported"
PROGRESS_EVERY = 500
STALE_AFTER = timedelta(seconds=60)  # a running import whose heartbeat is older died with its process
ERRORS_KEPT = 10_000
OnErrors = Literal["refuse", "import_valid"]
Uows = Callable[[], LeadsUnitOfWork]


@dataclass(frozen=True)
class UploadPreview:
    upload_id: uuid.UUID
    filename: str
    size: int
    rows: int
    headers: tuple[str, ...]
    suggested_mapping: dict[str, str]
    sample: list[dict[str, str]]


@dataclass(frozen=True)
class ImportOptions:
    mapping: dict[str, str]
    dedupe: ci.Dedupe
    match_by: ci.MatchBy
    on_errors: OnErrors
    encoding: str | None

    def as_json(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "dedupe": self.dedupe, "matchBy": self.match_by, "onErrors": self.on_errors,
                "encoding": self.encoding}

    def key(self, sha256: str) -> str:
        return hashlib.sha256(json.dumps({"file": sha256, **self.as_json()}, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PlannedRow:
    line: int
    action: str  # create | update | skip | error
    email: str | None
    domain: str | None
    detail: str | None  # the duplicate it skips or updates, or the error


@dataclass(frozen=True)
class ImportPlan:
    """What an import would do (dry run), nothing written."""

    rows: int
    create: int
    update: int
    skip: int
    failed: int
    sample: list[PlannedRow]
    errors: list[ci.RowProblem]


@dataclass(frozen=True)
class ImportStarted:
    row: LeadImportRow
    start: bool  # False: the same import was asked before (answered as it stands)


def _file_refusal(problem: ci.FileProblem) -> Refusal:
    return Refusal("invalid", problem.reason, problem.message)


def _parse(content: bytes, encoding: str | None, max_rows: int) -> ci.ParsedFile:
    try:
        return ci.parse(ci.decode(content, encoding), max_rows=max_rows)
    except ci.FileProblem as problem:
        raise _file_refusal(problem) from None


async def upload_file(content: bytes, *, filename: str, workspace: str, actor: str, encoding: str | None,
                      max_rows: int, uow: LeadsUnitOfWork) -> UploadPreview:
    """Keep the file if it reads as CSV; answer its header, row count, a sample and the suggested mapping."""
    parsed = _parse(content, encoding, max_rows)
    now = datetime.now(UTC)
    upload_id = uuid.uuid4()
    async with uow:
        repo = ImportRepository(uow.session)
        remembered = await repo.mapping(workspace)
        repo.add_upload(ImportUploadRow(id=upload_id, workspace=workspace, filename=filename[:300],
                                        sha256=hashlib.sha256(content).hexdigest(), size=len(content), content=content,
                                        created_at=now, created_by=actor))
        await uow.commit()
    sample = [dict(zip(parsed.headers, cells, strict=False)) for _, cells in parsed.rows[:5]]
    return UploadPreview(upload_id, filename, len(content), len(parsed.rows), parsed.headers,
                         ci.suggest_mapping(parsed.headers, remembered), sample)


async def _read(upload_id: uuid.UUID, options: ImportOptions, *, workspace: str, rules: ci.RowRules, max_rows: int,
                uow: LeadsUnitOfWork) -> tuple[ImportUploadRow, list[ci.Draft], list[ci.RowProblem]]:
    upload = await ImportRepository(uow.session).upload(upload_id, workspace=workspace)
    if upload is None:
        raise Refusal("not_found", "upload_not_found", "No uploaded file with that id; upload the file again.")
    parsed = _parse(upload.content, options.encoding, max_rows)
    try:
        ci.check_mapping(options.mapping, parsed.headers)
    except ci.FileProblem as problem:
        raise _file_refusal(problem) from None
    drafts, problems = ci.check_rows(parsed, options.mapping, rules)
    return upload, drafts, problems


async def _plan(drafts: Sequence[ci.Draft], options: ImportOptions, *, workspace: str, uow: LeadsUnitOfWork
                ) -> list[ci.Step]:
    existing = await ImportRepository(uow.session).existing_keys(
        workspace, emails=[d.email.lower() for d in drafts if d.email],
        domains=[d.domain.lower() for d in drafts if d.domain])
    return ci.plan(drafts, lambda key: str(existing[key]) if key in existing else None, dedupe=options.dedupe,
                   match_by=options.match_by)


async def preview_import(upload_id: uuid.UUID, options: ImportOptions, *, workspace: str, rules: ci.RowRules,
                         max_rows: int, uow: LeadsUnitOfWork) -> ImportPlan:
    async with uow:
        _, drafts, problems = await _read(upload_id, options, workspace=workspace, rules=rules, max_rows=max_rows,
                                          uow=uow)
        steps = await _plan(drafts, options, workspace=workspace, uow=uow)
    planned = [PlannedRow(s.draft.line, s.action, s.draft.email, s.draft.domain,
                          s.duplicate_of or (f"line {s.into}" if s.into else s.lead_id)) for s in steps]
    planned += [PlannedRow(p.row, "error", None, None, p.message) for p in problems]
    planned.sort(key=lambda r: r.line)
    return ImportPlan(rows=len(drafts) + len({p.row for p in problems}),
                      create=sum(s.action == "create" for s in steps), update=sum(s.action == "update" for s in steps),
                      skip=sum(s.action == "skip" for s in steps), failed=len({p.row for p in problems}),
                      sample=planned[:20], errors=problems[:100])


def stale(row: LeadImportRow, now: datetime | None = None) -> bool:
    return row.status == "running" and (now or datetime.now(UTC)) - row.heartbeat_at > STALE_AFTER


def _problems_json(problems: Sequence[ci.RowProblem]) -> list[dict[str, Any]]:
    return [{"row": p.row, "column": p.column, "reason": p.reason, "message": p.message}
            for p in problems[:ERRORS_KEPT]]


async def start_import(upload_id: uuid.UUID, options: ImportOptions, *, workspace: str, actor: str,
                       rules: ci.RowRules, max_rows: int, uow: LeadsUnitOfWork) -> ImportStarted:
    """Record the import (refused when rows are invalid and the operator did not choose to import the valid ones);
    the caller runs `run_import` when `start` is true."""
    now = datetime.now(UTC)
    async with uow:
        upload, drafts, problems = await _read(upload_id, options, workspace=workspace, rules=rules,
                                               max_rows=max_rows, uow=uow)
        repo = ImportRepository(uow.session)
        key = options.key(upload.sha256)
        row = await repo.by_key(key, workspace=workspace)
        if row is not None and row.status != "failed" and not stale(row, now):
            return ImportStarted(detached(row), start=False)
        refused = bool(problems) and options.on_errors == "refuse"
        failed_rows = len({p.row for p in problems})
        values: dict[str, Any] = dict(
            upload_id=upload_id, options=options.as_json(), status="refused" if refused else "running",
            total=len(drafts) + failed_rows, processed=0, created=0, updated=0, skipped=0, failed=failed_rows,
            errors=_problems_json(problems), started_at=now, heartbeat_at=now, finished_at=now if refused else None,
            created_by=actor,
            message=(f"{failed_rows} of {len(drafts) + failed_rows} rows are invalid; nothing was imported. Fix them, "
                     "or choose to import the valid rows.") if refused else None)
        if row is None:
            row = LeadImportRow(id=uuid.uuid4(), workspace=workspace, idempotency_key=key, **values)
            repo.add(row)
        else:  # failed, or died with its process: the same import again
            for name, value in values.items():
                setattr(row, name, value)
        if not refused:
            await repo.remember_mapping(workspace, options.mapping, now)
        await uow.session.flush()
        started = ImportStarted(detached(row), start=not refused)
        await uow.commit()
        return started


async def import_status(import_id: uuid.UUID, *, workspace: str, uow: LeadsUnitOfWork) -> LeadImportRow:
    async with uow:
        row = await ImportRepository(uow.session).get(import_id, workspace=workspace)
        if row is None:
            raise Refusal("not_found", "import_not_found", "No import with that id.")
        return detached(row)


async def error_rows(import_id: uuid.UUID, *, workspace: str, uow: LeadsUnitOfWork
                     ) -> tuple[tuple[str, ...], list[tuple[dict[str, Any], tuple[str, ...]]]]:
    """The file's header and each refused row: its problem and its cells as uploaded (to fix and import again)."""
    async with uow:
        repo = ImportRepository(uow.session)
        row = await repo.get(import_id, workspace=workspace)
        if row is None:
            raise Refusal("not_found", "import_not_found", "No import with that id.")
        upload = await repo.upload(row.upload_id, workspace=workspace)
        errors = list(row.errors)
        encoding = row.options.get("encoding")
        content = upload.content if upload is not None else b""
    parsed = _parse(content, encoding, max_rows=10**9) if content else ci.ParsedFile((), ())
    cells = dict(parsed.rows)
    return parsed.headers, [(e, cells.get(int(e["row"]), ())) for e in errors]


async def run_import(import_id: uuid.UUID, *, workspace: str, actor: str, rules: ci.RowRules, max_rows: int,
                     uows: Uows) -> None:
    """Apply the import in one transaction; on any failure (or cancellation) the import is marked failed and no lead
    of it remains (the error is logged here: nobody awaits this task)."""
    try:
        await _apply(import_id, workspace=workspace, actor=actor, rules=rules, max_rows=max_rows, uows=uows)
    except asyncio.CancelledError:
        await _fail(import_id, workspace, uows, "The service stopped before the import finished")
        raise
    except Exception as exc:
        log.exception("lead import %s of workspace %s failed", import_id, workspace)
        await _fail(import_id, workspace, uows, f"The import failed ({type(exc).__name__})")


async def _fail(import_id: uuid.UUID, workspace: str, uows: Uows, message: str) -> None:
    try:
        async with uows() as uow:
            row = await ImportRepository(uow.session).get(import_id, workspace=workspace, for_update=True)
            if row is not None and row.status == "running":
                row.status, row.finished_at, row.processed = "failed", datetime.now(UTC), 0
                row.message = f"{message}; nothing was imported. Start the import again."
                await uow.commit()
    except Exception:  # the database is gone too: the heartbeat goes stale and the import shows as interrupted
        log.warning("could not mark lead import %s failed", import_id, exc_info=True)


async def _apply(import_id: uuid.UUID, *, workspace: str, actor: str, rules: ci.RowRules, max_rows: int,
                 uows: Uows) -> None:
    async with uows() as uow:
        repo = ImportRepository(uow.session)
        # One import of a workspace at a time: a second waits here until the first commits, then sees its leads.
        await uow.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"lead-import:{workspace}"))))
        row = await repo.get(import_id, workspace=workspace)
        if row is None or row.status != "running":
            return
        options = ImportOptions(mapping=dict(row.options["mapping"]), dedupe=row.options["dedupe"],
                                match_by=row.options["matchBy"], on_errors=row.options["onErrors"],
                                encoding=row.options.get("encoding"))
        upload_id = row.upload_id
        _, drafts, _ = await _read(upload_id, options, workspace=workspace, rules=rules, max_rows=max_rows, uow=uow)
        steps = await _plan(drafts, options, workspace=workspace, uow=uow)
        roots = _fold_duplicates(steps)
        existing = await repo.leads([uuid.UUID(s.lead_id) for s in roots if s.action == "update" and s.lead_id],
                                    workspace=workspace)
        now = datetime.now(UTC)
        for done, step in enumerate(roots, start=1):
            if step.action == "create":
                await _create(uow, step, workspace=workspace, actor=actor, now=now)
            elif step.action == "update" and step.lead_id:
                lead = existing.get(uuid.UUID(step.lead_id))
                if lead is not None:
                    await _update(uow, lead, step)
            if done % PROGRESS_EVERY == 0:
                await uow.session.flush()
                await _progress(uows, import_id, workspace, processed=done)
        row = await repo.get(import_id, workspace=workspace)
        assert row is not None
        row.status, row.finished_at, row.heartbeat_at = "done", datetime.now(UTC), datetime.now(UTC)
        row.processed = row.total
        row.created = sum(s.action == "create" for s in roots)
        row.updated = sum(s.action == "update" for s in steps)
        row.skipped = sum(s.action == "skip" for s in steps)
        await uow.commit()


def _fold_duplicates(steps: list[ci.Step]) -> list[ci.Step]:
    """A row that updates an earlier row of the file merges into that row's step; the steps left are applied."""
    by_line = {s.draft.line: s for s in steps}
    roots: list[ci.Step] = []
    for step in steps:
        step.merged = dict(step.draft.fields)
        if step.action == "update" and step.into is not None:
            target = by_line[step.into]
            while target.into is not None:
                target = by_line[target.into]
            ci.merge(target.merged, step.draft)
            target.draft.custom.update(step.draft.custom)
            continue
        roots.append(step)
    return roots


async def _create(uow: LeadsUnitOfWork, step: ci.Step, *, workspace: str, actor: str, now: datetime) -> None:
    f = step.merged
    lead = LeadRow(id=uuid.uuid4(), workspace=workspace, company_name=f.get("company_name"), domain=f.get("domain"),
                   first_name=f.get("first_name"), last_name=f.get("last_name"), email=f.get("email"),
                   title=f.get("title"), phone=f.get("phone"), notes=f.get("notes"),
                   custom_fields=step.draft.custom or None, status=LeadStatus.NEW.value, opens=0, version=0,
                   created_at=now, updated_at=now)
    uow.leads.add(lead)
    uow.leads.add_history(lead_id=lead.id, workspace=workspace, from_status=None, to_status=lead.status, actor=actor,
                          reason=ACTOR_REASON, changed_at=now)
    await announce(uow, lead)


async def _update(uow: LeadsUnitOfWork, lead: LeadRow, step: ci.Step) -> None:
    """The row's non-empty values over the lead's (an empty cell never clears a field); custom fields merged."""
    changed = False
    for name, value in step.merged.items():
        if value and getattr(lead, name) != value:
            setattr(lead, name, value)
            changed = True
    if step.draft.custom:
        custom = {**(lead.custom_fields or {}), **step.draft.custom}
        if custom != lead.custom_fields:
            lead.custom_fields = custom
            changed = True
    if changed:
        await announce(uow, lead)


async def _progress(uows: Uows, import_id: uuid.UUID, workspace: str, *, processed: int) -> None:
    async with uows() as uow:
        await ImportRepository(uow.session).progress(import_id, processed=processed, at=datetime.now(UTC))
        await uow.commit()
