"""Mark completed in PlusVibe and Remove from PlusVibe (campaign-scoped delete; clears the link). `plusvibe` is
the port of the lead's workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.leads import LeadCompletedInCampaign, LeadRemovedFromCampaign
from contracts.status import LeadStatus
from leads.adapters.lead_changes import announce, publish_for
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal, not_found
from plusvibe.port import PlusVibePort

COMPLETABLE = {LeadStatus.CONVERTED.value, LeadStatus.REPLIED.value}


async def mark_completed(lead_id: uuid.UUID, *, workspace: str, uow: LeadsUnitOfWork, plusvibe: PlusVibePort) -> None:
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        if lead.status not in COMPLETABLE:
            raise Refusal("conflict", "status_not_completable",
                          "Mark completed is for leads whose status is converted or replied.")
        if not lead.campaign_id:
            raise Refusal("conflict", "campaign_link_missing", "The lead is not linked to a PlusVibe campaign.")
        if not lead.email:
            raise Refusal("conflict", "contact_email_missing", "The lead has no contact email.")
        campaign_id, email = lead.campaign_id, lead.email
    await plusvibe.mark_lead_completed(campaign_id, email)
    async with uow:
        publish_for(uow, workspace, LeadCompletedInCampaign(lead_id=lead_id, campaign_id=campaign_id, email=email,
                                                            completed_at=datetime.now(UTC)))
        await uow.commit()


async def remove_from_campaign(lead_id: uuid.UUID, *, workspace: str, uow: LeadsUnitOfWork,
                               plusvibe: PlusVibePort) -> str:
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        if not lead.campaign_id:
            raise Refusal("conflict", "campaign_link_missing", "The lead is not linked to a PlusVibe campaign.")
        campaign_id = lead.campaign_id
        # The address PlusVibe enrolled (the push ledger's), not the contact's current one: an edited email would
        # delete nobody and leave the enrolled address receiving the campaign.
        enrolled = (await uow.leads.ledger([lead_id], campaign_id)).get(lead_id)
        email = enrolled.email if enrolled is not None and enrolled.email else lead.email
        if not email:
            raise Refusal("conflict", "contact_email_missing", "Remove from PlusVibe needs the contact email.")
    # Scoped to the campaign: never a workspace-wide delete.
    await plusvibe.delete_leads([email], campaign_id=campaign_id)
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace, for_update=True)
        if lead is None:
            raise not_found()
        if lead.campaign_id == campaign_id:
            lead.campaign_id = None
        ledger = await uow.leads.ledger([lead_id], campaign_id)
        if lead_id in ledger:
            ledger[lead_id].state = "removed"
        publish_for(uow, workspace, LeadRemovedFromCampaign(lead_id=lead_id, campaign_id=campaign_id, email=email,
                                                            removed_at=datetime.now(UTC)))
        await announce(uow, lead)
        await uow.commit()
    return campaign_id
