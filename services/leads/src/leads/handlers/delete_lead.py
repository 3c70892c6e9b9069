"""Delete a lead (the operator's Delete on Lead detail, `DELETE /api/leads/{id}`): a soft delete. The lead leaves
every list, search and read of the API; its row, status history, audits and emails stay for the record. Its
deletion is announced (LeadUpserted with `deleted`), so unibox stops matching replies to it and other subscribers
forget it.

PlusVibe is not touched: a lead still in a PlusVibe campaign is refused (409 `lead_in_campaign`), because deleting
it here would leave PlusVibe sending to someone the platform no longer shows. The operator removes it from the
campaign first (Remove from PlusVibe), then deletes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from leads.adapters.lead_changes import announce
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal, not_found


async def delete_lead(lead_id: uuid.UUID, *, workspace: str, uow: LeadsUnitOfWork) -> None:
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace, for_update=True)
        if lead is None:
            raise not_found()
        # The link, and every push PlusVibe may still hold (a lead pushed to two campaigns is linked to the newest).
        campaigns = list(dict.fromkeys([*([lead.campaign_id] if lead.campaign_id else []),
                                        *(row.campaign_id for row in await uow.leads.live_enrolments(lead.id))]))
        if campaigns:
            raise Refusal("conflict", "lead_in_campaign",
                          f"The lead is in PlusVibe campaign {', '.join(campaigns)}: remove it from the campaign "
                          "first (Remove from PlusVibe); deleting never touches PlusVibe.",
                          campaignId=campaigns[0], campaignIds=campaigns, remedy="remove_from_campaign")
        lead.deleted_at = datetime.now(UTC)
        lead.send_risk = None  # nothing is sent to a deleted lead: no risk to re-check
        await announce(uow, lead)
        await uow.commit()
