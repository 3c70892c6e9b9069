"""A lead's timeline (Lead detail, `GET /api/leads/{id}/timeline`): the rows leads keeps about the lead, merged by
`domain/timeline.py`, newest first, one page of it."""

from __future__ import annotations

import uuid

from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import not_found
from leads.domain.timeline import Entry, timeline


async def lead_timeline(lead_id: uuid.UUID, *, workspace: str, page: int, page_size: int,
                        uow: LeadsUnitOfWork) -> tuple[list[Entry], int]:
    """(the page's entries, how many entries there are); a lead of another workspace or a deleted one: not found."""
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        entries = timeline(await uow.leads.history(lead_id), await uow.leads.runs_of(lead_id),
                           await uow.leads.emails(lead_id), await uow.leads.pushes_of(lead_id),
                           await uow.leads.webhooks_of(lead_id))
    start = (page - 1) * page_size
    return entries[start:start + page_size], len(entries)
