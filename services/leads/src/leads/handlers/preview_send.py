"""Send preview: every step and variation of a campaign as PlusVibe would render it for this lead now, each
empty placeholder marked (docs/TEMPLATES.md). The same dry run as the push's guard, on the same lead object.
`campaigns` is the directory of the lead's workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from copywriter import Tone
from leads.adapters.campaigns import CampaignDirectory, CampaignInfo
from leads.adapters.custom_storage import storage_rule
from leads.adapters.send_check import judge, refuse_broken_templates, snapshot, target
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.lead_payload import build_lead_object
from leads.domain.readiness import ProblemReport, ReadinessResult, Refused, is_valid_value, report_problem
from leads.domain.refusals import Refusal, not_found
from leads.domain.send_dry_run.campaign import DryRun, TemplateFault, dry_run
from leads.domain.send_dry_run.context import StorageRule
from plusvibe.errors import NotFoundError


@dataclass(frozen=True)
class SendPreview:
    lead_id: uuid.UUID
    campaign: CampaignInfo
    rule: StorageRule | None
    verdict: ReadinessResult
    run: DryRun | None  # None when the campaign has no readable templates
    problems: tuple[ProblemReport, ...]


async def preview_send(
    lead_id: uuid.UUID,
    campaign_id: str,
    *,
    workspace: str,
    uow: LeadsUnitOfWork,
    campaigns: CampaignDirectory,
    configured_storage: str,
    workspace_id: str,
    tone: Tone,
) -> SendPreview:
    # The lead first: an id of another workspace (or none) answers 404 before any PlusVibe call, whatever the
    # state of this workspace's connection.
    async with uow:
        if await uow.leads.get(lead_id, workspace=workspace) is None:
            raise not_found()
    try:
        campaign = await campaigns.get(campaign_id)
    except NotFoundError:
        raise Refusal("not_found", "campaign_not_found", f"PlusVibe has no campaign {campaign_id}.") from None
    refuse_broken_templates(campaign)
    async with uow:
        lead = await uow.leads.get(lead_id, workspace=workspace)
        if lead is None:
            raise not_found()
        rule = await storage_rule(uow, configured=configured_storage, workspace_id=workspace_id)
        verdict = judge(lead, campaign, rule, tone)
        run = verdict.dry_run
        problems = verdict.problems if isinstance(verdict, Refused) else ()
        if run is None and campaign.templates is not None:
            # Refused before the dry run (status, email): still show what this lead would receive today.
            guard = target(campaign, rule)
            lead_now = snapshot(lead)
            lead_object = build_lead_object(lead_now.fields, {k: str(v) for k, v in (lead_now.variables or {}).items()},
                                            names=campaign.templates.names, rule=rule)
            rules = [rule] if rule is not None else [StorageRule.VERBATIM, StorageRule.PREFIXED]
            try:
                run = dry_run(campaign.templates, lead_object, rules=rules, senders=guard.senders,
                              is_valid=is_valid_value)
            except TemplateFault as fault:
                refuse_broken_templates(campaign, fault)
            problems = tuple(report_problem(p, lead_object, rule is not None) for p in run.problems) if run else ()
    return SendPreview(lead_id, campaign, rule, verdict, run, problems)
