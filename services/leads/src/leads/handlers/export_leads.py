"""Export the current lead list (Leads → Export CSV, `GET /api/leads/export`): every lead the list's filters
match, in the list's order, streamed a page at a time (one query for the page's leads and one for their audits), so
a workspace of any size exports in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import csv_export

PAGE = 1000


async def export_leads(new_uow: Callable[[], LeadsUnitOfWork], *, workspace: str, status: str | None,
                       campaign_id: str | None, text: str | None, sort: str, descending: bool) -> AsyncIterator[str]:
    yield csv_export.header()
    offset = 0
    while True:
        async with new_uow() as uow:
            leads, _ = await uow.leads.search(workspace=workspace, status=status, campaign_id=campaign_id, text=text,
                                              sort=sort, descending=descending, offset=offset, limit=PAGE)
            runs = await uow.leads.runs([lead.audit_run_id for lead in leads if lead.audit_run_id])
            page = []
            for lead in leads:
                run = runs.get(lead.audit_run_id) if lead.audit_run_id else None
                page.append((lead.id, lead.company_name, lead.domain, lead.first_name, lead.last_name, lead.email,
                             lead.title, lead.phone, lead.notes, lead.status, lead.campaign_id,
                             run.grade if run else None, run.score if run else None, run.top_issue if run else None,
                             lead.opens or 0, lead.custom_fields, lead.created_at.isoformat(),
                             lead.updated_at.isoformat()))
        if page:
            yield csv_export.rows(page)
        if len(leads) < PAGE:
            return
        offset += PAGE
