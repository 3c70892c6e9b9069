"""Manual writeback (the PlusVibe Writeback button): only with a campaign link and a linked audit run;
asks writeback to re-send the payload of the most recent completed audit, written with the campaign's copy setting as
it is at the press (docs/COPY-SETTINGS.md): the request carries it, so a tone saved just before is never missed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from copywriter import choose_copy
from leads.adapters.copy_settings import as_setting
from leads.adapters.lead_changes import writeback_requested
from leads.adapters.orm import AuditRunRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal, not_found


async def request_writeback(lead_id: uuid.UUID, *, workspace: str, actor: str, uow: LeadsUnitOfWork) -> uuid.UUID:
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        if not lead.campaign_id:
            raise Refusal("conflict", "campaign_link_missing",
                          "PlusVibe Writeback needs a campaign link: push the lead to a campaign first.")
        if lead.audit_run_id is None:
            raise Refusal("conflict", "audit_run_missing", "PlusVibe Writeback needs an audit run: start an audit first.")
        completed = (await uow.session.execute(
            select(AuditRunRow.id).where(AuditRunRow.lead_id == lead.id, AuditRunRow.status == "completed").limit(1)
        )).scalar_one_or_none()
        if completed is None:
            # Writeback sends the most recent *completed* audit; without one there is nothing to write.
            raise Refusal("conflict", "audit_not_completed",
                          "PlusVibe Writeback needs a completed audit: wait for the audit to finish, then retry.")
        campaign, default = await uow.copy.pair(lead.workspace, lead.campaign_id)
        request_id = writeback_requested(uow, lead, campaign_id=lead.campaign_id, actor=actor, at=datetime.now(UTC),
                                         copy=choose_copy(as_setting(campaign), as_setting(default)))
        await uow.commit()
    return request_id
