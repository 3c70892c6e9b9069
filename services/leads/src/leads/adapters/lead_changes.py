"""The two things every change of a lead does in its transaction: apply a status decision (history row +
LeadStatusChanged) and announce the new snapshot (version bump + LeadUpserted). Both events carry the lead's
workspace (`workspace_id`), as every event about a lead does (`publish_for`). Also the one builder of
WritebackRequested, which two use cases ask for (the PlusVibe Writeback button and the template check's refresh)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.envelope import Envelope, EventData
from contracts.leads import LeadStatusChanged, LeadUpserted, WritebackRequested
from contracts.status import LeadStatus
from copywriter import CopyChoice
from leads.adapters.orm import LeadRow
from leads.adapters.snapshot import lead_snapshot
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.transitions import TransitionDecision


def publish_for(uow: LeadsUnitOfWork, workspace: str, data: EventData, *, causation: Envelope | None = None) -> None:
    """Writes an event of the workspace to the outbox: its envelope names the workspace the event belongs to."""
    uow.publish(data, causation=causation, workspace_id=workspace)


def apply_status(
    uow: LeadsUnitOfWork, lead: LeadRow, decision: TransitionDecision, *, causation: Envelope | None = None
) -> bool:
    """Sets the decided status, records history and LeadStatusChanged. Returns True if the status changed.
    The caller announces the lead afterwards (the version is bumped there)."""
    if decision.to_status is None or decision.to_status.value == lead.status:
        return False
    now = datetime.now(UTC)
    previous = lead.status
    lead.status = decision.to_status.value
    uow.leads.add_history(lead_id=lead.id, workspace=lead.workspace, from_status=previous, to_status=lead.status,
                          actor=decision.actor, reason=decision.reason.value, changed_at=now)
    publish_for(
        uow, lead.workspace,
        LeadStatusChanged(
            lead_id=lead.id,
            from_status=LeadStatus(previous) if previous else None,
            to_status=decision.to_status,
            actor=decision.actor,
            reason=decision.reason.value,
            version=lead.version + 1,
            changed_at=now,
        ),
        causation=causation,
    )
    return True


async def announce(uow: LeadsUnitOfWork, lead: LeadRow, *, causation: Envelope | None = None) -> None:
    """Bumps the version and writes LeadUpserted with the full snapshot to the outbox; a deleted lead is announced
    as deleted, whatever path announces it (a later snapshot must never bring it back in the projections)."""
    uow.leads.touch(lead)
    run = await uow.leads.run(lead.audit_run_id) if lead.audit_run_id else None
    publish_for(uow, lead.workspace, LeadUpserted(lead_id=lead.id, lead=lead_snapshot(lead, run),
                                                  deleted=lead.deleted_at is not None), causation=causation)


def writeback_requested(uow: LeadsUnitOfWork, lead: LeadRow, *, campaign_id: str, actor: str, at: datetime,
                        copy: CopyChoice | None = None) -> uuid.UUID:
    """Asks writeback to write the lead's newest completed audit to `campaign_id` again; `copy`: the tone and steps to
    write in (None: writeback's own copy of the campaign's setting). The lead must have an audit run."""
    assert lead.audit_run_id is not None
    request_id = uuid.uuid4()
    publish_for(uow, lead.workspace, WritebackRequested(
        lead_id=lead.id, request_id=request_id, campaign_id=campaign_id, audit_run_id=lead.audit_run_id,
        requested_by=actor, requested_at=at, tone=copy.tone.value if copy is not None else None,
        steps=copy.steps if copy is not None else None))
    return request_id
