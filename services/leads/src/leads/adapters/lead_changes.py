"""The two things every change of a lead does in its transaction: apply a status decision (history row +
LeadStatusChanged) and announce the new snapshot (version bump + LeadUpserted). Both events carry the lead's
workspace (`workspace_id`), as every event about a lead does (`publish_for`)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.envelope import Envelope, EventData
from contracts.leads import LeadStatusChanged, LeadUpserted
from contracts.status import LeadStatus
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
