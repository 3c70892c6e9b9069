"""Start audit: allocate a run, link it as the lead's newest, set `audit_queued`, and ask audits for it; for one lead
or for many (the Leads table's bulk action, each lead on its own)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.leads import AuditRequested
from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce, apply_status, publish_for
from leads.adapters.orm import AuditRunRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from leads.domain.refusals import Refusal, not_found


def auditable_domain(domain: str | None) -> str | None:
    if domain is None or not domain.strip() or domain.strip().lower() == "unknown":
        return None
    return domain.strip()


async def start_audit(lead_id: uuid.UUID, *, workspace: str, actor: str, uow: LeadsUnitOfWork) -> uuid.UUID:
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace, for_update=True)
        if lead is None:
            raise not_found()
        domain = auditable_domain(lead.domain)
        if domain is None:
            raise Refusal("invalid", "domain_missing",
                          "This lead has no usable domain to audit. Add the company's domain first.")
        now = datetime.now(UTC)
        run_id = uuid.uuid4()
        uow.leads.add_run(AuditRunRow(id=run_id, lead_id=lead.id, workspace=lead.workspace, domain=domain,
                                      status="queued", requested_at=now,
                                      requested_by=actor))
        lead.audit_run_id = run_id
        lead.audit_requested_at = now
        apply_status(uow, lead, transitions.audit_requested(LeadStatus(lead.status), actor=actor))
        publish_for(uow, lead.workspace, AuditRequested(lead_id=lead.id, audit_run_id=run_id, domain=domain,
                                                        requested_at=now, requested_by=actor))
        await announce(uow, lead)
        await uow.commit()
    return run_id


@dataclass(frozen=True)
class AuditStart:
    """One lead's result of a bulk Start audit: its run, or why it was not started."""

    lead_id: str
    audit_run_id: uuid.UUID | None = None
    reason: str | None = None
    message: str | None = None


async def start_audits(lead_ids: Sequence[str], *, workspace: str, actor: str, uows: Callable[[], LeadsUnitOfWork]
                       ) -> list[AuditStart]:
    """Start audit for each lead on its own, as the single action does (the same domain check): one lead refused or
    unknown does not stop the others. Each id once, in the order given."""
    results: list[AuditStart] = []
    for raw in dict.fromkeys(lead_ids):
        try:
            lead_id = uuid.UUID(raw)
        except ValueError:
            results.append(AuditStart(raw, reason="lead_not_found", message="No lead with that id."))
            continue
        try:
            results.append(AuditStart(raw, audit_run_id=await start_audit(lead_id, workspace=workspace, actor=actor,
                                                                          uow=uows())))
        except Refusal as refusal:
            results.append(AuditStart(raw, reason=refusal.reason, message=refusal.message))
    return results
