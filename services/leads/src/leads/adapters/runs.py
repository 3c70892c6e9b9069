"""Audit-run ordering: a run's sequence is its request time, so "newest wins" needs no lookup."""

from __future__ import annotations

import uuid
from datetime import datetime

from leads.adapters.orm import LeadRow
from leads.domain.transitions import RunRef


def run_ref(run_id: uuid.UUID, requested_at: datetime) -> RunRef:
    return RunRef(run_id=str(run_id), sequence=int(requested_at.timestamp() * 1_000_000))


def newest_run(lead: LeadRow) -> RunRef | None:
    if lead.audit_run_id is None or lead.audit_requested_at is None:
        return None
    return run_ref(lead.audit_run_id, lead.audit_requested_at)
