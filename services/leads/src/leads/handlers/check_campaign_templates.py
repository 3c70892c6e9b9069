"""Campaigns edited after enrolment (docs/TEMPLATES.md): a periodic check reads every campaign, notices a sequence
whose text changed (a fingerprint), and dry-runs its current templates against what PlusVibe holds for each
enrolled lead — the variables the push sent, updated by any writeback delivered since. A lead that would now
render an empty placeholder is flagged (`send_risk` on the lead, LeadSendAtRisk, a metric); for tokens the
writeback produces, a writeback refresh is requested once per edit. Flagged leads are re-checked every pass and
cleared when the risk is gone.

One check is of one platform workspace: the campaigns of its connection (`campaigns`, its directory), its
fingerprints and its enrolled leads; the service runs it for each workspace it serves that is connected."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import text

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.leads import LeadSendAtRisk, SendProblem
from leads.adapters.campaigns import CampaignDirectory, CampaignInfo
from leads.adapters.custom_storage import storage_rule
from leads.adapters.lead_changes import announce, publish_for, writeback_requested
from leads.adapters.orm import CampaignTemplatesRow, LeadRow, PushLedgerRow
from leads.adapters.send_check import snapshot
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.lead_payload import standard_fields
from leads.domain.readiness import (
    ASSUMED_SENDER,
    ProblemReport,
    Remedy,
    is_audit_key,
    is_valid_value,
    report_problem,
)
from leads.domain.send_dry_run.campaign import TemplateFault, dry_run
from leads.domain.send_dry_run.context import CUSTOM_PREFIX, LeadObject, StorageRule

log = logging.getLogger(__name__)
ACTOR = "system:template-check"
SEND_AT_RISK = Counter("leads_send_at_risk", "Enrolled leads flagged because an edited campaign would render an "
                       "empty placeholder for them.", ["reason"])
# One check of a workspace at a time across every leads consumers replica (PostgreSQL advisory lock on this key
# and the workspace's hash): the workspaces' checks do not wait on one another.
_LOCK_KEY = 0x7E3A_1C55


@dataclass
class CheckReport:
    campaigns: int = 0
    changed: list[str] = field(default_factory=list)
    flagged: list[uuid.UUID] = field(default_factory=list)
    cleared: list[uuid.UUID] = field(default_factory=list)
    refreshes: list[uuid.UUID] = field(default_factory=list)
    skipped: bool = False  # another replica held the check


def held_by_plusvibe(lead: LeadRow, entry: PushLedgerRow | None) -> LeadObject:
    """What PlusVibe holds for an enrolled lead: what the push sent, then the variables of a writeback delivered
    after it (`/lead/data/update` overwrites and adds keys)."""
    sent = dict(entry.variables) if entry is not None else {}
    if lead.wb_variables and lead.wb_delivered and (entry is None or (lead.wb_applied_at is not None
                                                                      and lead.wb_applied_at >= entry.pushed_at)):
        sent.update(lead.wb_variables)
    return LeadObject(email=lead.email or "", fields=standard_fields(snapshot(lead).fields), custom_variables=sent)


def _refreshable(problem: ProblemReport, rule: StorageRule | None) -> bool:
    """Will a writeback (which sends the profile and body keys under their plain names) fill this token?"""
    if problem.remedy is not Remedy.RE_AUDIT or not is_audit_key(problem.key):
        return False
    return rule is StorageRule.PREFIXED or not problem.key.lower().startswith(CUSTOM_PREFIX)


def _risk(campaign: CampaignInfo, problems: list[ProblemReport], now: datetime, refresh_for: str | None) -> dict[str, Any]:
    first = problems[0]
    return {"campaignId": campaign.id, "campaignName": campaign.name, "detectedAt": now.isoformat(),
            "reason": first.reason.value, "remedy": first.remedy.value, "message": first.message,
            "fingerprint": campaign.fingerprint, "writebackRequestedFor": refresh_for,
            "problems": [{"token": p.token, "step": p.step, "variation": p.variation, "part": p.part,
                          "reason": p.reason.value, "message": p.message} for p in problems]}


async def _locked(uow: LeadsUnitOfWork, workspace: str) -> bool:
    if uow.session.get_bind().dialect.name != "postgresql":
        return True
    locked = await uow.session.execute(text("SELECT pg_try_advisory_xact_lock(:k, hashtext(:ws))"),
                                       {"k": _LOCK_KEY, "ws": workspace})
    return bool(locked.scalar())


async def check_connected_workspaces(
    new_uow: Callable[[], LeadsUnitOfWork],
    workspaces: Iterable[str],
    *,
    plusvibe_workspace_of: Callable[[str], Awaitable[str]],
    campaigns_of: Callable[[str], CampaignDirectory],
    configured_storage: str,
) -> dict[str, CheckReport]:
    """One pass of the template check (the service's loop), for each of `workspaces` that is connected to PlusVibe. A
    workspace whose check fails (its key unreadable, PlusVibe down) is logged and skipped: the others are still
    checked."""
    reports: dict[str, CheckReport] = {}
    for workspace in sorted(workspaces):
        try:
            workspace_id = await plusvibe_workspace_of(workspace)
            if not workspace_id:
                continue  # not connected (yet): nothing to check
            reports[workspace] = await check_campaign_templates(
                new_uow, campaigns_of(workspace), workspace=workspace, workspace_id=workspace_id,
                configured_storage=configured_storage)
        except Exception:
            log.exception("template check of workspace %s failed", workspace)
    return reports


async def check_campaign_templates(
    new_uow: Callable[[], LeadsUnitOfWork],
    campaigns: CampaignDirectory,
    *,
    configured_storage: str,
    workspace_id: str,
    workspace: str = DEFAULT_WORKSPACE,
) -> CheckReport:
    """Checks the platform `workspace`'s campaigns; `workspace_id` is the PlusVibe workspace its connection calls."""
    report = CheckReport()
    infos = {info.id: info for info in await campaigns.list()}
    report.campaigns = len(infos)
    now = datetime.now(UTC)
    async with new_uow() as uow:
        if not await _locked(uow, workspace):
            report.skipped = True
            return report
        rule = await storage_rule(uow, configured=configured_storage, workspace_id=workspace_id)
        seen = await uow.leads.campaign_fingerprints(workspace)
        to_check: set[str] = set()
        for info in infos.values():
            row = seen.get(info.id)
            if row is None:
                uow.leads.add_campaign_fingerprint(CampaignTemplatesRow(
                    workspace=workspace, campaign_id=info.id, fingerprint=info.fingerprint, checked_at=now))
                to_check.add(info.id)
            elif row.fingerprint != info.fingerprint:
                row.fingerprint, row.changed_at, row.checked_at = info.fingerprint, now, now
                report.changed.append(info.id)
                to_check.add(info.id)
            else:
                row.checked_at = now
        leads = [lead for cid in sorted(to_check)
                 for lead in await uow.leads.enrolled_in(cid, workspace=workspace, for_update=True)]
        leads += [lead for lead in await uow.leads.flagged(workspace=workspace, for_update=True)
                  if lead.campaign_id not in to_check]
        # One query each for the leads' push-ledger entries and audit runs (announce() finds the runs in the
        # session), not one per lead.
        ledgers: dict[str, dict[uuid.UUID, PushLedgerRow]] = {}
        for cid in {lead.campaign_id for lead in leads if lead.campaign_id}:
            ledgers[cid] = await uow.leads.ledger([lead.id for lead in leads if lead.campaign_id == cid], cid)
        await uow.leads.runs([lead.audit_run_id for lead in leads if lead.audit_run_id is not None])
        for lead in leads:
            campaign = infos.get(lead.campaign_id or "")
            if campaign is not None:
                entry = ledgers.get(campaign.id, {}).get(lead.id)
                await _judge_enrolled(uow, lead, entry, campaign, rule, now, report)
            elif lead.send_risk is not None:  # no longer in that campaign (removed, or the campaign is gone)
                await _risk_resolved(uow, lead, str(lead.send_risk.get("campaignId") or "") or "unknown", now,
                                     report)
        await uow.commit()
    if report.changed or report.flagged or report.cleared:
        log.info("template check", extra={"fields": {"changed": report.changed, "flagged": len(report.flagged),
                                                     "cleared": len(report.cleared)}})
    return report


async def _risk_resolved(uow: LeadsUnitOfWork, lead: LeadRow, campaign_id: str, now: datetime,
                         report: CheckReport) -> None:
    """The lead's send risk is gone (its campaign's templates are fine for it again, or it left the campaign)."""
    lead.send_risk = None
    publish_for(uow, lead.workspace, LeadSendAtRisk(lead_id=lead.id, campaign_id=campaign_id, resolved=True,
                                                    detected_at=now))
    await announce(uow, lead)
    report.cleared.append(lead.id)


async def _judge_enrolled(uow: LeadsUnitOfWork, lead: LeadRow, entry: PushLedgerRow | None, info: CampaignInfo,
                          rule: StorageRule | None, now: datetime, report: CheckReport) -> None:
    if info.templates is None or info.fault is not None:
        return  # unreadable or broken templates: nothing to judge against (a push would be refused)
    held = held_by_plusvibe(lead, entry)
    rules = [rule] if rule is not None else [StorageRule.VERBATIM, StorageRule.PREFIXED]
    try:
        run = dry_run(info.templates, held, rules=rules, senders=info.senders or (ASSUMED_SENDER,),
                      is_valid=is_valid_value)
    except TemplateFault:
        return
    problems = [report_problem(p, held, rule is not None) for p in run.problems]
    previous = lead.send_risk
    if not problems:
        if previous is not None:
            await _risk_resolved(uow, lead, info.id, now, report)
        return
    refresh_for = previous.get("writebackRequestedFor") if previous else None
    wanted = [p for p in problems if _refreshable(p, rule)]
    requested = False
    if wanted and refresh_for != info.fingerprint and lead.audit_run_id is not None:
        writeback_requested(uow, lead, campaign_id=info.id, actor=ACTOR, at=now)
        refresh_for, requested = info.fingerprint, True
        report.refreshes.append(lead.id)
    if previous is not None and previous.get("fingerprint") == info.fingerprint and not requested:
        return  # already flagged for this version of the templates
    lead.send_risk = _risk(info, problems, now, refresh_for)
    publish_for(uow, lead.workspace, LeadSendAtRisk(
        lead_id=lead.id, campaign_id=info.id, writeback_requested=requested, detected_at=now,
        problems=[SendProblem(token=p.token or p.key, step=p.step or 0, variation=p.variation or "",
                              part=p.part or "", reason=p.reason.value) for p in problems]))
    await announce(uow, lead)
    SEND_AT_RISK.labels(problems[0].reason.value).inc()
    report.flagged.append(lead.id)
