"""Push to PlusVibe (single and bulk, one endpoint): the readiness guard on every lead, then enrolment with
`/lead/add` carrying every custom merge variable in the same call, the campaign link, and LeadPushed.

All-or-nothing by default: one refused lead → 409 listing every refused lead and nothing is enrolled.
With `partial`, the ready leads are enrolled and the refused ones reported. Idempotent: a lead already
enrolled in that campaign (push ledger) is not sent again; PlusVibe's own de-duplication within a campaign
covers a crash between the call and our commit.

A push works in one platform workspace: only that workspace's leads are pushed (another workspace's id is refused
like a missing one), through `plusvibe` and `campaigns` of that workspace's connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.leads import LeadPushed
from copywriter import Tone
from leads.adapters.campaigns import CampaignDirectory, CampaignInfo
from leads.adapters.custom_storage import AUTO, detect_storage_rule, storage_rule
from leads.adapters.lead_changes import announce, publish_for
from leads.adapters.orm import PushLedgerRow
from leads.adapters.send_check import judge, refuse_broken_templates
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.readiness import ProblemReport, Refused
from leads.domain.refusals import Refusal
from leads.domain.send_dry_run.context import LeadObject, StorageRule
from plusvibe.errors import NotFoundError
from plusvibe.models import AddLeadsResult, LeadIn
from plusvibe.port import PlusVibePort

BATCH = 100


@dataclass(frozen=True)
class PushLeads:
    campaign_id: str
    lead_ids: list[uuid.UUID]
    partial: bool
    actor: str
    workspace: str  # the platform workspace the push works in
    tone: Tone = Tone.CONSULTATIVE
    workspace_id: str = ""  # the PlusVibe workspace its connection calls
    custom_storage: str = AUTO  # the configured storage rule: auto | verbatim | prefixed


@dataclass(frozen=True)
class RefusedLead:
    lead_id: uuid.UUID
    status: str | None
    reason: str
    remedy: str
    message: str
    keys: tuple[str, ...] = ()
    problems: tuple[ProblemReport, ...] = ()


@dataclass
class PushOutcome:
    campaign_id: str
    enrolled: list[uuid.UUID] = field(default_factory=list)
    already_enrolled: list[uuid.UUID] = field(default_factory=list)
    refused: list[RefusedLead] = field(default_factory=list)
    leads_uploaded: int = 0
    already_in_campaign: int = 0
    batches: int = 0
    storage_rule: StorageRule | None = None


def _lead_in(lead: LeadObject) -> LeadIn:
    """The guard's lead object as the client's model: the push sends exactly what the guard judged."""
    return LeadIn.model_validate({"email": lead.email, **lead.fields,
                                  "custom_variables": dict(lead.custom_variables)})


async def _campaign(campaigns: CampaignDirectory, campaign_id: str) -> CampaignInfo:
    try:
        campaign = await campaigns.get(campaign_id, fresh=True)
    except NotFoundError:
        raise Refusal("not_found", "campaign_not_found", f"PlusVibe has no campaign {campaign_id}.") from None
    taking = campaign.intake
    if not taking.ok:
        raise Refusal("conflict", taking.reason or "campaign_cannot_take_leads", taking.message or "",
                      campaignStatus=campaign.status)
    refuse_broken_templates(campaign)
    return campaign


async def push_leads(
    cmd: PushLeads,
    *,
    uow: LeadsUnitOfWork,
    plusvibe: PlusVibePort,
    campaigns: CampaignDirectory,
    new_uow: Callable[[], LeadsUnitOfWork] | None = None,
) -> PushOutcome:
    ids = list(dict.fromkeys(cmd.lead_ids))
    if new_uow is None:
        def new_uow() -> LeadsUnitOfWork:
            return uow
    campaign = await _campaign(campaigns, cmd.campaign_id)
    outcome = PushOutcome(campaign_id=cmd.campaign_id)
    ready: dict[uuid.UUID, LeadIn] = {}  # built inside the transaction: rows expire when it ends
    async with uow:
        rule = await storage_rule(uow, configured=cmd.custom_storage, workspace_id=cmd.workspace_id)
        outcome.storage_rule = rule
        leads = await uow.leads.get_many(ids, workspace=cmd.workspace)
        missing = [str(i) for i in ids if i not in leads]
        if missing:
            raise Refusal("not_found", "lead_not_found", f"No lead with id {', '.join(missing[:10])}.",
                          leadIds=missing)
        ledger = await uow.leads.ledger(ids, cmd.campaign_id)
        for lead_id in ids:
            lead = leads[lead_id]
            entry = ledger.get(lead_id)
            if entry is not None and entry.state == "enrolled":
                outcome.already_enrolled.append(lead_id)
                continue
            verdict = judge(lead, campaign, rule, cmd.tone)
            if isinstance(verdict, Refused):
                outcome.refused.append(RefusedLead(lead_id, lead.status, verdict.reason.value, verdict.remedy.value,
                                                   verdict.message, verdict.keys, verdict.problems))
            else:
                ready[lead_id] = _lead_in(verdict.lead_object)
    if outcome.refused and not cmd.partial:
        return outcome  # the caller answers 409; nothing was enrolled
    order = [i for i in ids if i in ready]
    # Batch k is recorded (its own transaction) while batch k+1's call waits for its rate-limit slot, so the
    # push takes about as long as the calls themselves. Records commit in order; a failed call stops the push
    # after the batches before it are recorded.
    recording: asyncio.Task[None] | None = None
    try:
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            result = await _enrol_call(batch, ready, cmd, plusvibe=plusvibe)
            if recording is not None:
                await recording
            recording = asyncio.create_task(_record_batch(batch, ready, cmd, result, uow=new_uow(),
                                                          outcome=outcome))
    finally:
        if recording is not None:
            await recording
    if rule is None and order and cmd.workspace_id:
        # The workspace's storage rule was not known: read back a lead just written to learn it.
        first = ready[order[0]]
        outcome.storage_rule = await detect_storage_rule(new_uow, plusvibe, workspace_id=cmd.workspace_id,
                                                         email=first.email, campaign_id=cmd.campaign_id,
                                                         sent=first.custom_variables)
    return outcome


async def _enrol_call(
    batch: list[uuid.UUID], ready: dict[uuid.UUID, LeadIn], cmd: PushLeads, *, plusvibe: PlusVibePort
) -> AddLeadsResult:
    # The lead has no campaign row yet; one call enrols it with every custom variable (no race window).
    # skip_if_in_workspace=False lets a retargeted lead join a new campaign; PlusVibe never adds an
    # address twice to the same campaign, so a retried batch does not duplicate it.
    return await plusvibe.add_leads(
        cmd.campaign_id,
        [ready[i] for i in batch],
        skip_if_in_workspace=False,
        skip_lead_in_active_pause_camp=False,
        skip_lead_for_active_only_camp=False,
        is_overwrite=True,
    )


async def _record_batch(
    batch: list[uuid.UUID],
    ready: dict[uuid.UUID, LeadIn],
    cmd: PushLeads,
    result: AddLeadsResult,
    *,
    uow: LeadsUnitOfWork,
    outcome: PushOutcome,
) -> None:
    """The enrolled batch: ledger rows, campaign links, LeadPushed and the new snapshots, in one transaction."""
    outcome.leads_uploaded += result.leads_uploaded
    outcome.already_in_campaign += result.already_in_campaign
    outcome.batches += 1
    now = datetime.now(UTC)
    async with uow:
        fresh = await uow.leads.get_many(batch, workspace=cmd.workspace, for_update=True)
        # One query for the batch's audit runs: announce() then finds each in the session, not one trip per lead.
        await uow.leads.runs([lead.audit_run_id for lead in fresh.values() if lead.audit_run_id is not None])
        ledger = await uow.leads.ledger(batch, cmd.campaign_id)
        for lead_id in batch:
            lead = fresh.get(lead_id)
            if lead is None:
                continue  # deleted meanwhile
            entry = ledger.get(lead_id)
            if entry is None:
                uow.leads.add_ledger(PushLedgerRow(lead_id=lead_id, workspace=lead.workspace,
                                                   campaign_id=cmd.campaign_id, email=lead.email or "",
                                                   state="enrolled", variables=ready[lead_id].custom_variables,
                                                   pushed_at=now))
            else:
                entry.state, entry.variables, entry.pushed_at = "enrolled", ready[lead_id].custom_variables, now
            lead.campaign_id = cmd.campaign_id
            publish_for(uow, lead.workspace, LeadPushed(lead_id=lead_id, campaign_id=cmd.campaign_id,
                                                        email=lead.email or "",
                                                        variables=ready[lead_id].custom_variables, pushed_at=now))
            await announce(uow, lead)
            outcome.enrolled.append(lead_id)
        await uow.commit()
