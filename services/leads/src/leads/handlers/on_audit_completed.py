"""AuditCompleted: the run keeps its grade, score and profile; the lead of the newest run moves to
`audit_complete` (a stale run is kept in the history and never regresses the lead). Only a lead of the event's
workspace changes."""

from __future__ import annotations

from contracts.audits import AuditCompleted
from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce, apply_status
from leads.adapters.runs import lead_and_run, link_run, newest_run, run_ref
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from servicekit.messaging.events import Decoded


async def handle(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditCompleted)
    lead, run = await lead_and_run(uow, item)
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
    current = LeadStatus(lead.status) if lead.status else None
    decision = transitions.audit_completed(current, run=run_ref(event.audit_run_id, event.requested_at),
                                           newest=newest_run(lead))
    if not decision.apply_effect:
        return  # a stale run: kept in the run history, the lead is untouched
    link_run(lead, event)
    apply_status(uow, lead, decision, causation=item.envelope)
    await announce(uow, lead, causation=item.envelope)
