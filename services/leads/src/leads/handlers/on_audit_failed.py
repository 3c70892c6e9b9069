"""AuditFailed: the run keeps its error; the lead of the newest run links it (its status stays, so the guard says
what to do). Only a lead of the event's workspace changes."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.audits import AuditFailed
from leads.adapters.lead_changes import announce
from leads.adapters.runs import is_newest, lead_and_run, link_run
from leads.adapters.uow import LeadsUnitOfWork
from servicekit.messaging.events import Decoded


async def handle(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditFailed)
    lead, run = await lead_and_run(uow, item)
    if lead is None or run is None:
        return
    run.status = "failed"
    run.completed_at = event.failed_at
    run.error_message = event.error_message
    if is_newest(lead, event):
        link_run(lead, event)
        lead.updated_at = datetime.now(UTC)
        await announce(uow, lead, causation=item.envelope)
