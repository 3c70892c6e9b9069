"""First sync from PlusVibe (docs/FIRST-SYNC.md): import the workspace's PlusVibe leads and their campaigns, page by
page, each page in ONE transaction with the sync's progress. `start_sync` claims a sync (a new one, or the newest
one resumed when it failed or its runner died); `run_sync` walks the pages from the sync's `next_page` until a short
page. A crash between pages resumes at the next page; a crash within a page leaves nothing of it, and the page is
applied again (the rules make that a no-op for what was already applied)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce
from leads.adapters.orm import LeadRow, PlusVibeSyncRow, detached
from leads.adapters.plusvibe_sync import SyncRepository
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import first_sync as rules
from leads.domain.refusals import Refusal
from plusvibe.errors import PlusVibeError
from plusvibe.models import WorkspaceLead
from plusvibe.port import PlusVibePort

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # PlusVibe's most per page
STALE_AFTER = timedelta(seconds=30)  # a running sync without a heartbeat for this long lost its runner
HEARTBEAT_S = 5.0
CONFLICTS_KEPT = 500  # the conflicts a sync keeps to show; `conflict_count` counts them all
ERROR_CHARS = 1000


@dataclass(frozen=True)
class SyncJob:
    """What a runner needs to walk a claimed sync: its id, workspace and the runner's own token."""

    sync_id: uuid.UUID
    workspace: str
    runner: uuid.UUID
    next_page: int


@dataclass(frozen=True)
class Claimed:
    sync: PlusVibeSyncRow  # a copy that outlives the transaction
    resumed: bool
    job: SyncJob


def is_stale(sync: PlusVibeSyncRow, now: datetime) -> bool:
    """A running sync whose runner stopped beating (its process died): POST resumes it."""
    return sync.status == "running" and now - sync.heartbeat_at >= STALE_AFTER


async def start_sync(uow: LeadsUnitOfWork, *, workspace: str, actor: str, now: datetime) -> Claimed:
    """Claims the workspace's sync for a new runner: the newest one again when it failed or its runner is gone (same
    id, from its next page), else a new one from page 1. Refused while a live runner works on one."""
    runner = uuid.uuid4()
    async with uow:
        repo = SyncRepository(uow.session)
        await repo.lock_workspace(workspace)
        newest = await repo.newest(workspace, for_update=True)
        if newest is not None and newest.status == "running" and not is_stale(newest, now):
            raise Refusal("conflict", "sync_running", "A sync from PlusVibe is already running in this workspace.",
                          syncId=str(newest.id))
        resumed = newest is not None and newest.status in ("running", "failed")
        if newest is not None and resumed:
            sync = newest
            sync.status, sync.runner, sync.heartbeat_at = "running", runner, now
            sync.error, sync.finished_at = None, None
            sync.resumes += 1
        else:
            sync = PlusVibeSyncRow(
                id=uuid.uuid4(), workspace=workspace, status="running", runner=runner, next_page=1, pages_done=0,
                seen=0, created=0, linked=0, unchanged=0, conflict_count=0, conflicts=[], resumes=0, error=None,
                started_at=now, heartbeat_at=now, finished_at=None, created_by=actor)
            repo.add(sync)
        kept = detached(sync)
        await uow.commit()
    return Claimed(kept, resumed, SyncJob(kept.id, workspace, runner, kept.next_page))


async def newest_sync(uow: LeadsUnitOfWork, *, workspace: str) -> PlusVibeSyncRow:
    async with uow:
        sync = await SyncRepository(uow.session).newest(workspace)
        if sync is None:
            raise Refusal("not_found", "sync_not_found", "This workspace has not synced from PlusVibe yet.")
        return detached(sync)


async def run_sync(job: SyncJob, *, uows: Callable[[], LeadsUnitOfWork], plusvibe: PlusVibePort,
                   page_size: int = PAGE_SIZE, heartbeat_s: float = HEARTBEAT_S) -> str:
    """Walks the pages from the job's next page until a short one. Returns how it ended: `done`, `failed` (the sync
    is marked failed with the error: POST resumes it) or `taken` (another runner claimed it meanwhile). Cancelled
    (the process stops), the sync stays `running` and its heartbeat goes stale: POST resumes it then."""
    beating = asyncio.create_task(_heartbeat(job, uows, heartbeat_s))
    try:
        page = job.next_page
        while True:
            rows = await plusvibe.workspace_leads_page(page, page_size)
            ended = await apply_page(job, page, rows, uows=uows, page_size=page_size)
            if ended is not None:
                return ended
            page += 1
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("first sync %s of workspace %s failed: %s", job.sync_id, job.workspace, _error_text(exc),
                    exc_info=not isinstance(exc, PlusVibeError | Refusal))
        await _fail(job, uows, _error_text(exc))
        return "failed"
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def apply_page(job: SyncJob, page: int, rows: Sequence[WorkspaceLead], *,
                     uows: Callable[[], LeadsUnitOfWork], page_size: int = PAGE_SIZE) -> str | None:
    """One page's leads and the sync's progress in one transaction. Returns `done` after the last (short) page,
    `taken` when the sync is no longer this runner's (nothing applied), else None."""
    now = datetime.now(UTC)
    parsed = [as_plusvibe_lead(row) for row in rows]
    async with uows() as uow:
        repo = SyncRepository(uow.session)
        sync = await repo.get(job.sync_id, for_update=True)
        if sync is None or sync.status != "running" or sync.runner != job.runner or sync.next_page != page:
            return "taken"
        emails = {rules.email_key(r.email) for r in parsed if rules.usable_email(r.email)}
        found = await repo.live_leads_with_emails(job.workspace, emails)
        known: dict[str, list[rules.KnownLead]] = {}
        for lead in found:
            known.setdefault(rules.email_key(lead.email), []).append(_known(lead))
        decisions = rules.plan_page(parsed, known, uuid.uuid4)
        changed = await _apply(uow, decisions, {lead.id: lead for lead in found}, workspace=job.workspace, now=now)
        for lead in changed:
            await announce(uow, lead)
        _progress(sync, decisions, rows=len(rows), now=now)
        ended = len(rows) < page_size
        if ended:
            sync.status, sync.finished_at, sync.runner = "done", now, None
        await uow.commit()
    return "done" if ended else None


async def _apply(uow: LeadsUnitOfWork, decisions: Sequence[rules.Decision], leads: dict[uuid.UUID, LeadRow], *,
                 workspace: str, now: datetime) -> list[LeadRow]:
    """Creates and links as decided; the leads changed, each once, in the order of their first change."""
    linked = [leads[d.lead_id] for d in decisions if d.action is rules.Action.LINK and d.lead_id in leads]
    # One query for their audit runs: announce() then finds each in the session.
    await uow.leads.runs([lead.audit_run_id for lead in linked if lead.audit_run_id is not None])
    changed: dict[uuid.UUID, LeadRow] = {}
    for decision in decisions:
        if decision.action is rules.Action.CREATE and decision.lead_id is not None:
            lead = _created(decision, workspace=workspace, now=now)
            uow.leads.add(lead)
            leads[lead.id] = changed[lead.id] = lead
            uow.leads.add_history(lead_id=lead.id, workspace=workspace, from_status=None, to_status=lead.status,
                                  actor=rules.ACTOR, reason=rules.CREATED_REASON, changed_at=now)
        elif decision.action is rules.Action.LINK and decision.lead_id is not None:
            lead = leads[decision.lead_id]
            lead.campaign_id = rules.new_lead(decision.row).campaign_id
            changed[lead.id] = lead
            uow.leads.add_history(lead_id=lead.id, workspace=workspace, from_status=lead.status,
                                  to_status=lead.status, actor=rules.ACTOR,
                                  reason=rules.update_reason(lead.campaign_id or ""), changed_at=now)
    return list(changed.values())


def _created(decision: rules.Decision, *, workspace: str, now: datetime) -> LeadRow:
    fields = rules.new_lead(decision.row)
    assert decision.lead_id is not None
    return LeadRow(id=decision.lead_id, workspace=workspace, company_name=fields.company_name, domain=fields.domain,
                   first_name=fields.first_name, last_name=fields.last_name, email=fields.email,
                   campaign_id=fields.campaign_id, status=LeadStatus.NEW.value, opens=0, version=0, created_at=now,
                   updated_at=now)


def _progress(sync: PlusVibeSyncRow, decisions: Sequence[rules.Decision], *, rows: int, now: datetime) -> None:
    conflicts = [conflict_out(c) for d in decisions for c in d.conflicts]
    sync.next_page += 1
    sync.pages_done += 1
    sync.seen += rows
    sync.created += sum(1 for d in decisions if d.action is rules.Action.CREATE)
    sync.linked += sum(1 for d in decisions if d.action is rules.Action.LINK)
    sync.unchanged += sum(1 for d in decisions if d.action is rules.Action.KEEP)
    sync.conflict_count += len(conflicts)
    if len(sync.conflicts) < CONFLICTS_KEPT and conflicts:
        sync.conflicts = [*sync.conflicts, *conflicts][:CONFLICTS_KEPT]  # a new list: the JSON column sees it
    sync.heartbeat_at = now


def conflict_out(conflict: rules.Conflict) -> dict[str, Any]:
    return {"leadId": str(conflict.lead_id) if conflict.lead_id else None, "email": conflict.email,
            "field": conflict.field, "ours": conflict.ours, "plusvibe": conflict.plusvibe}


def as_plusvibe_lead(row: WorkspaceLead) -> rules.PlusVibeLead:
    extra = row.model_extra or {}
    return rules.PlusVibeLead(email=row.email, first_name=row.first_name, last_name=row.last_name,
                              campaign_id=row.campaign_id, company_name=_str(extra.get("company_name")),
                              website=_str(extra.get("company_website") or extra.get("website")))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _known(lead: LeadRow) -> rules.KnownLead:
    return rules.KnownLead(lead.id, rules.email_key(lead.email), lead.first_name, lead.last_name, lead.campaign_id)


async def _heartbeat(job: SyncJob, uows: Callable[[], LeadsUnitOfWork], every_s: float) -> None:
    """Tells that the runner lives while a page waits for PlusVibe (the rate limit, retries), until the sync is no
    longer its own. A failed beat is tried again at the next one."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with uows() as uow:
                mine = await SyncRepository(uow.session).beat(job.sync_id, job.runner, datetime.now(UTC))
                await uow.commit()
        except Exception:
            log.warning("heartbeat of first sync %s failed", job.sync_id, exc_info=True)
            continue
        if not mine:
            return


async def _fail(job: SyncJob, uows: Callable[[], LeadsUnitOfWork], error: str) -> None:
    try:
        async with uows() as uow:
            sync = await SyncRepository(uow.session).get(job.sync_id, for_update=True)
            if sync is not None and sync.runner == job.runner and sync.status == "running":
                sync.status, sync.error, sync.runner, sync.finished_at = "failed", error, None, datetime.now(UTC)
                await uow.commit()
    except Exception:  # the database is gone too: the heartbeat stops, the sync goes stale and is resumed later
        log.warning("could not mark first sync %s failed", job.sync_id, exc_info=True)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, Refusal):
        text = f"{exc.message} ({exc.reason})"
    elif isinstance(exc, PlusVibeError):
        text = f"PlusVibe did not answer the page: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_CHARS]
