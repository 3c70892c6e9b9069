"""Edit a lead's fields and/or set its status from the dropdown (operator changes always apply), and
normalise the legacy `sent` status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce, apply_status
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from leads.domain.refusals import Refusal, not_found

EDITABLE = ("company_name", "domain", "first_name", "last_name", "email", "title", "phone", "notes", "custom_fields")


@dataclass(frozen=True)
class UpdateLead:
    lead_id: uuid.UUID
    fields: dict[str, Any]
    status: str | None
    actor: str
    workspace: str


async def update_lead(cmd: UpdateLead, *, uow: LeadsUnitOfWork) -> None:
    requested: LeadStatus | None = None
    if cmd.status is not None:
        try:
            requested = LeadStatus(cmd.status)
        except ValueError:
            raise Refusal("invalid", "status_unknown", f"{cmd.status!r} is not a lead status.") from None
        if requested is LeadStatus.SENT_LEGACY:
            raise Refusal("invalid", "status_not_selectable", "The legacy status `sent` cannot be set; use email_sent.")
    unknown = set(cmd.fields) - set(EDITABLE)
    if unknown:
        raise Refusal("invalid", "field_not_editable", f"Not editable: {', '.join(sorted(unknown))}.")
    async with uow:
        lead = await uow.leads.get(cmd.lead_id, workspace=cmd.workspace, for_update=True)
        if lead is None:
            raise not_found()
        changed = False
        for name, value in cmd.fields.items():
            if name == "custom_fields":
                value = value or None  # {} removes every field
            if getattr(lead, name) != value:
                setattr(lead, name, value)
                changed = True
        if requested is not None:
            current = LeadStatus(lead.status)
            changed |= apply_status(uow, lead, transitions.operator_change(current, requested, actor=cmd.actor))
        if changed:
            await announce(uow, lead)
            await uow.commit()


async def normalise_status(lead_id: uuid.UUID, *, workspace: str, actor: str, uow: LeadsUnitOfWork) -> bool:
    """Returns True when the lead was on the legacy value and is now `email_sent`."""
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace, for_update=True)
        if lead is None:
            raise not_found()
        decision = transitions.legacy_normalisation(LeadStatus(lead.status), actor=actor)
        if not apply_status(uow, lead, decision):
            return False
        await announce(uow, lead)
        await uow.commit()
        return True


async def normalise_all(*, workspace: str, actor: str, uow: LeadsUnitOfWork) -> int:
    """Every lead of the workspace still on the legacy value."""
    async with uow:
        ids = await uow.leads.legacy_ids(workspace)
    count = 0
    for lead_id in ids:
        count += int(await normalise_status(lead_id, workspace=workspace, actor=actor, uow=uow))
    return count
