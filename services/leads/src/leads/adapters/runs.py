"""Audit runs as the audit events name them: the lead and run an event is about, and their ordering (a run's
sequence is its request time, so "newest wins" needs no lookup)."""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.audits import AuditEvent
from contracts.integrations import event_workspace
from leads.adapters.orm import AuditRunRow, LeadRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from leads.domain.transitions import RunRef
from servicekit.messaging.events import Decoded


def run_ref(run_id: uuid.UUID, requested_at: datetime) -> RunRef:
    return RunRef(run_id=str(run_id), sequence=int(requested_at.timestamp() * 1_000_000))


def newest_run(lead: LeadRow) -> RunRef | None:
    if lead.audit_run_id is None or lead.audit_requested_at is None:
        return None
    return run_ref(lead.audit_run_id, lead.audit_requested_at)


async def locked_lead(uow: LeadsUnitOfWork, item: Decoded) -> LeadRow | None:
    """The lead an event is about, locked for this transaction; None when it was deleted or is another workspace's
    (`event_workspace`: only a lead of the event's workspace may change)."""
    lead_id = getattr(item.event, "lead_id", None)
    if not isinstance(lead_id, uuid.UUID):
        raise TypeError(f"{item.envelope.event_type} names no lead")
    return await uow.leads.get(lead_id, workspace=event_workspace(item.envelope.workspace_id), for_update=True)


async def lead_and_run(uow: LeadsUnitOfWork, item: Decoded) -> tuple[LeadRow | None, AuditRunRow | None]:
    """The lead an audit event is about (locked) and its run (kept if leads never saw it). (None, None): nothing to
    change — the lead was deleted, or it (or the run) is another workspace's (`event_workspace`)."""
    event = item.event
    assert isinstance(event, AuditEvent)
    lead = await locked_lead(uow, item)
    if lead is None:
        return None, None  # the lead was deleted (or is another workspace's); the event has nothing to change
    run = await uow.leads.run(event.audit_run_id)
    if run is not None and run.workspace != lead.workspace:
        return None, None  # a run of another workspace's lead: this event must not change it either
    if run is None:
        run = AuditRunRow(id=event.audit_run_id, lead_id=lead.id, workspace=lead.workspace, domain=event.domain,
                          status="queued", requested_at=event.requested_at, requested_by="unknown")
        uow.leads.add_run(run)
    return lead, run


def is_newest(lead: LeadRow, event: AuditEvent) -> bool:
    return transitions.is_newest_run(run_ref(event.audit_run_id, event.requested_at), newest_run(lead))


def link_run(lead: LeadRow, event: AuditEvent) -> None:
    """The event's run becomes the lead's newest."""
    lead.audit_run_id = event.audit_run_id
    lead.audit_requested_at = event.requested_at
