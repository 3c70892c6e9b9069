"""The readiness guard's inputs, from a stored lead and a described campaign: one place, used by the push, the
send preview and the check of edited campaigns, so the three judge exactly the same lead object."""

from __future__ import annotations

from contracts.status import LeadStatus
from copywriter import LeadFacts, Tone
from leads.adapters.campaigns import CampaignInfo
from leads.adapters.orm import LeadRow
from leads.domain.lead_payload import LeadFields
from leads.domain.readiness import ASSUMED_SENDER, LeadSnapshot, ReadinessResult, SendTarget, check_readiness
from leads.domain.refusals import Refusal
from leads.domain.send_dry_run.campaign import TemplateFault
from leads.domain.send_dry_run.context import StorageRule


def snapshot(lead: LeadRow) -> LeadSnapshot:
    return LeadSnapshot(
        status=LeadStatus(lead.status) if lead.status else None,
        fields=LeadFields(email=lead.email or "", first_name=lead.first_name, last_name=lead.last_name,
                          company_name=lead.company_name, domain=lead.domain, title=lead.title, phone=lead.phone,
                          notes=lead.notes, custom=dict(lead.custom_fields or {})),
        variables=lead.wb_variables,
    )


def facts(lead: LeadRow) -> LeadFacts:
    return LeadFacts(company_name=lead.company_name, domain=lead.domain, first_name=lead.first_name,
                     last_name=lead.last_name, job_title=lead.title)


def target(campaign: CampaignInfo, rule: StorageRule | None) -> SendTarget:
    return SendTarget(templates=campaign.templates, steps=campaign.steps, rule=rule,
                      senders=campaign.senders or (ASSUMED_SENDER,))


def refuse_broken_templates(campaign: CampaignInfo, fault: TemplateFault | None = None) -> None:
    """A template that cannot be rendered is the campaign's problem: 409 naming where it is."""
    fault = fault or campaign.fault
    if fault is None:
        return
    raise Refusal("conflict", "campaign_template_invalid",
                  f"Campaign {campaign.name or campaign.id} has a template PlusVibe cannot render (step "
                  f"{fault.ref.step}, variation {fault.ref.variation}, {fault.ref.part}): {fault.message}. "
                  "Edit the campaign in PlusVibe.",
                  step=fault.ref.step, variation=fault.ref.variation, part=fault.ref.part)


def judge(lead: LeadRow, campaign: CampaignInfo, rule: StorageRule | None, tone: Tone) -> ReadinessResult:
    """The guard's verdict; a template that fails to render for this lead (Liquid) refuses the whole push."""
    try:
        return check_readiness(snapshot(lead), target(campaign, rule), facts=facts(lead), tone=tone)
    except TemplateFault as fault:
        refuse_broken_templates(campaign, fault)
        raise
