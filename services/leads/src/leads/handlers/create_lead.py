"""Create a lead (status `new`) in the request's workspace and announce it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce
from leads.adapters.orm import LeadRow
from leads.adapters.uow import LeadsUnitOfWork


@dataclass(frozen=True)
class CreateLead:
    company_name: str | None
    domain: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    title: str | None
    phone: str | None
    notes: str | None
    actor: str
    workspace: str
    custom_fields: dict[str, str] | None = None


async def create_lead(cmd: CreateLead, *, uow: LeadsUnitOfWork) -> uuid.UUID:
    now = datetime.now(UTC)
    lead = LeadRow(
        id=uuid.uuid4(), workspace=cmd.workspace, company_name=cmd.company_name, domain=cmd.domain,
        first_name=cmd.first_name,
        last_name=cmd.last_name, email=cmd.email, title=cmd.title, phone=cmd.phone, notes=cmd.notes,
        custom_fields=cmd.custom_fields or None,
        status=LeadStatus.NEW.value, opens=0, version=0, created_at=now, updated_at=now,
    )
    async with uow:
        uow.leads.add(lead)
        await uow.session.flush()
        uow.leads.add_history(lead_id=lead.id, workspace=lead.workspace, from_status=None, to_status=lead.status,
                              actor=cmd.actor,
                              reason="created", changed_at=now)
        await announce(uow, lead)
        await uow.commit()
    return lead.id
