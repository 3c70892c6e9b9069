"""Generate Email: a preview of the outreach copy from the lead and its newest completed audit, stored in the
Outreach Emails list (type `preview`, writebackStatus `not_written`). The operator may pick the tone and the step
count; otherwise the lead's campaign's copy setting chooses them (docs/COPY-SETTINGS.md), else one step in the
workspace default's tone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from copywriter import LeadFacts, Tone, choose_copy, generate_sequence
from leads.adapters.copy_settings import as_setting
from leads.adapters.orm import AuditRunRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal, not_found


async def generate_email(lead_id: uuid.UUID, *, workspace: str, tone: str | None, steps: int | None,
                         uow: LeadsUnitOfWork) -> list[uuid.UUID]:
    try:
        asked = Tone(tone) if tone else None
    except ValueError:
        raise Refusal("invalid", "tone_unknown", f"Tone must be one of {', '.join(t.value for t in Tone)}.") from None
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        campaign, default = await uow.copy.pair(workspace, lead.campaign_id or "")
        setting = choose_copy(as_setting(campaign), as_setting(default))
        chosen = asked or setting.tone
        steps = steps or setting.steps or 1
        stmt = (select(AuditRunRow).where(AuditRunRow.lead_id == lead_id, AuditRunRow.status == "completed")
                .order_by(AuditRunRow.requested_at.desc()).limit(1))
        run = (await uow.session.execute(stmt)).scalar_one_or_none()
        profile = dict(run.profile or {}) if run else {}
        facts = LeadFacts(company_name=lead.company_name, domain=lead.domain, first_name=lead.first_name,
                          last_name=lead.last_name, job_title=lead.title)
        now = datetime.now(UTC)
        ids: list[uuid.UUID] = []
        for step in generate_sequence(facts, profile, tone=chosen, steps=steps):
            ids.append(uow.leads.add_email(lead_id=lead_id, workspace=lead.workspace, type="preview", step=step.step,
                                           subject=step.subject,
                                           body=step.body, cta=step.cta, tone=chosen.value,
                                           audit_run_id=run.id if run else None, writeback_status="not_written",
                                           created_at=now))
        await uow.commit()
    return ids
