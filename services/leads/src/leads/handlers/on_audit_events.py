"""AuditStarted / AuditCompleted / AuditFailed from the audits service: keep the run, link the newest one,
and move the lead to `audit_complete` (a stale run never regresses a lead). An event changes only a lead of its own
workspace (`event_workspace`): a lead of another workspace is as unknown to it as a deleted one."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.audits import AuditCompleted, AuditEvent, AuditFailed, AuditStarted
from contracts.integrations import event_workspace
from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce, apply_status
from leads.adapters.orm import AuditRunRow, LeadRow
from leads.adapters.runs import newest_run, run_ref
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from servicekit.messaging.events import Decoded


async def _lead_and_run(uow: LeadsUnitOfWork, item: Decoded) -> tuple[LeadRow | None, AuditRunRow | None]:
    event = item.event
    assert isinstance(event, AuditEvent)
    lead = await uow.leads.get(event.lead_id, workspace=event_workspace(item.envelope.workspace_id), for_update=True)
    if lead is None:
        return None, None  # the lead was deleted (or is another workspace's); the event has nothing to change
    run = await uow.leads.run(event.audit_run_id)
    if run is not None and run.workspace != lead.workspace:
        return None, None  # a run of another workspace's lead: this event must not change it either
    if run is None:
        run = AuditRunRow(id=event.audit_run_id, lead_id=lead.id, workspace=lead.workspace, domain=event.domain,
                          status="queued",
                          requested_at=event.requested_at, requested_by="unknown")
        uow.leads.add_run(run)
    return lead, run


def _is_newest(lead: LeadRow, event: AuditEvent) -> bool:
    return transitions.is_newest_run(run_ref(event.audit_run_id, event.requested_at), newest_run(lead))


def _link(lead: LeadRow, event: AuditEvent) -> None:
    lead.audit_run_id = event.audit_run_id
    lead.audit_requested_at = event.requested_at


async def on_audit_started(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditStarted)
    lead, run = await _lead_and_run(uow, item)
    if lead is None or run is None:
        return
    if run.status == "queued":
        run.status = "running"
    if _is_newest(lead, event):
        _link(lead, event)
        await announce(uow, lead, causation=item.envelope)


async def on_audit_completed(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditCompleted)
    lead, run = await _lead_and_run(uow, item)
    if lead is None or run is None:
        return
    run.status = "completed"
    run.completed_at = event.completed_at
    run.grade = event.grade
    run.score = event.score
    run.top_issue = event.top_issue
    run.summary = event.summary
    run.report_url = event.report_url
    run.profile = event.profile.model_dump()
    decision = transitions.audit_completed(_status(lead), run=run_ref(event.audit_run_id, event.requested_at),
                                           newest=newest_run(lead))
    if not decision.apply_effect:
        return  # a stale run: kept in the run history, the lead is untouched
    _link(lead, event)
    apply_status(uow, lead, decision, causation=item.envelope)
    await announce(uow, lead, causation=item.envelope)


async def on_audit_failed(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditFailed)
    lead, run = await _lead_and_run(uow, item)
    if lead is None or run is None:
        return
    run.status = "failed"
    run.completed_at = event.failed_at
    run.error_message = event.error_message
    if _is_newest(lead, event):
        _link(lead, event)
        lead.updated_at = datetime.now(UTC)
        await announce(uow, lead, causation=item.envelope)


def _status(lead: LeadRow) -> LeadStatus | None:
    return LeadStatus(lead.status) if lead.status else None
