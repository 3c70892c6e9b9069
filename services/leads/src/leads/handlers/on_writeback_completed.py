"""WritebackCompleted: the variables and `email_generated` land in ONE transaction, so no
reader ever sees one without the other; only the lead's newest audit run may apply, and only to a lead of the
event's workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.status import LeadStatus
from contracts.writeback import WritebackCompleted
from leads.adapters.lead_changes import announce, apply_status
from leads.adapters.runs import locked_lead, newest_run, run_ref
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from servicekit.messaging.events import Decoded


async def handle(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, WritebackCompleted)
    lead = await locked_lead(uow, item)
    if lead is None:
        return
    current = LeadStatus(lead.status) if lead.status else None
    decision = transitions.writeback_completed(
        current, run=run_ref(event.audit_run_id, event.audit_requested_at), newest=newest_run(lead)
    )
    if not decision.apply_effect:
        return
    now = datetime.now(UTC)
    lead.wb_variables = dict(event.variables)
    lead.wb_audit_run_id = event.audit_run_id
    lead.wb_delivered = event.delivered
    lead.wb_applied_at = now
    lead.wb_error = None
    status = "delivered" if event.delivered else "stored"
    for step in range(1, event.steps + 1):
        subject = event.variables.get(f"email_subject_{step}")
        body = event.variables.get(f"email_body_{step}")
        if subject is None or body is None:
            continue
        uow.leads.add_email(lead_id=lead.id, workspace=lead.workspace, type="writeback", step=step, subject=subject,
                            body=body,
                            cta=event.variables.get(f"email_cta_{step}", ""), tone=event.tone,
                            audit_run_id=event.audit_run_id, writeback_status=status, created_at=now)
    apply_status(uow, lead, decision, causation=item.envelope)
    await announce(uow, lead, causation=item.envelope)
