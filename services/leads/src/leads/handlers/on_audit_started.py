"""AuditStarted: the run is running; the newest run is linked to its lead (a stale one never regresses it). Only a
lead of the event's workspace changes."""

from __future__ import annotations

from contracts.audits import AuditStarted
from leads.adapters.lead_changes import announce
from leads.adapters.runs import is_newest, lead_and_run, link_run
from leads.adapters.uow import LeadsUnitOfWork
from servicekit.messaging.events import Decoded


async def handle(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, AuditStarted)
    lead, run = await lead_and_run(uow, item)
    if lead is None or run is None:
        return
    if run.status == "queued":
        run.status = "running"
    if is_newest(lead, event):
        link_run(lead, event)
        await announce(uow, lead, causation=item.envelope)
