"""WritebackFailed: the newest run's lead keeps the error (and its status, `audit_complete`: the guard then says
"re-audit"); only a lead of the event's workspace."""

from __future__ import annotations

from contracts.writeback import WritebackFailed
from leads.adapters.lead_changes import announce
from leads.adapters.runs import locked_lead, newest_run, run_ref
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from servicekit.messaging.events import Decoded


async def handle(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, WritebackFailed)
    lead = await locked_lead(uow, item)
    if lead is None:
        return
    if not transitions.is_newest_run(run_ref(event.audit_run_id, event.audit_requested_at), newest_run(lead)):
        return
    # The lead keeps its status (audit_complete): the guard then says "re-audit".
    lead.wb_error = event.error
    await announce(uow, lead, causation=item.envelope)
