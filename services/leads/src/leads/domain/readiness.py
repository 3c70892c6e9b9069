"""The readiness guard: may this lead be enrolled in this campaign now? (docs/TEMPLATES.md, docs/ARCHITECTURE.md)

Pure. The lead's pipeline status is checked first (nothing else matters before an audit landed), then its
contact email; then the guard builds the exact `/lead/add` lead object the push would send (`lead_payload`)
and dry-runs the campaign's templates against it (`send_dry_run`): the lead is ready only if no placeholder
that can be reached renders empty. The verdict carries that lead object, which is what the push sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from contracts.profile import PROFILE_KEYS, body_keys
from contracts.status import READY_STATUSES, LeadStatus
from copywriter import LeadFacts, Tone
from leads.domain.fill_body_keys import fill_body_keys, is_body_key
from leads.domain.lead_payload import LeadFields, build_lead_object
from leads.domain.legacy import normalise_status
from leads.domain.merge_values import is_populated
from leads.domain.send_dry_run.campaign import CampaignTemplates, DryRun, Problem, dry_run
from leads.domain.send_dry_run.context import (
    CUSTOM_PREFIX,
    SENDER_FIELDS,
    STANDARD_FIELDS,
    LeadObject,
    StorageRule,
    sender_context,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# When the campaign's mailboxes cannot be read: PlusVibe fills sender fields from a mailbox that has them.
ASSUMED_SENDER = sender_context("Sender", "", "sender@mailbox.invalid")
# Lead fields as the operator knows them (the names the lead form uses).
_LEAD_FIELD_NAMES = {"company_website": "domain", "phone_number": "phone", "job_title": "title"}
_LEAD_FIELDS = frozenset(STANDARD_FIELDS) | {"email", "job_title"}


class RefusalReason(StrEnum):
    NOT_AUDITED = "not_audited"
    WRITEBACK_MISSING = "writeback_missing"
    VARIABLES_MISSING = "variables_missing"
    BOUNCED = "bounced"
    CONTACT_EMAIL_MISSING = "contact_email_missing"
    VARIABLES_EMPTY = "variables_empty"
    TEMPLATE_VARIABLE_UNKNOWN = "template_variable_unknown"
    TEMPLATE_VARIABLE_UNPREFIXED = "template_variable_unprefixed"
    CUSTOM_STORAGE_UNKNOWN = "custom_storage_unknown"
    SENDER_FIELD_EMPTY = "sender_field_empty"


class Remedy(StrEnum):
    START_AUDIT = "start_audit"
    RE_AUDIT = "re_audit"
    RE_AUDIT_OR_REMOVE = "re_audit_or_remove"
    EDIT_LEAD = "edit_lead"
    EDIT_CAMPAIGN = "edit_campaign"
    SET_CUSTOM_STORAGE = "set_custom_storage"
    EDIT_MAILBOX = "edit_mailbox"


# The refusal a lead gets is that of its most actionable problem; all problems are listed.
_PRIORITY = (Remedy.RE_AUDIT, Remedy.EDIT_LEAD, Remedy.EDIT_CAMPAIGN, Remedy.SET_CUSTOM_STORAGE, Remedy.EDIT_MAILBOX)


@dataclass(frozen=True)
class LeadSnapshot:
    """What the guard needs to know about one lead. `variables` is
    `plusvibeLeadData.lastOutboundWriteback.variables` (None when no writeback landed)."""

    status: LeadStatus | None
    fields: LeadFields
    variables: Mapping[str, object] | None


@dataclass(frozen=True)
class SendTarget:
    """What the guard needs to know about the campaign: its compiled templates (None when they cannot be read),
    its step count, the workspace's custom-variable storage rule (None: not known yet) and its mailboxes'
    sender fields."""

    templates: CampaignTemplates | None
    steps: int = 1
    rule: StorageRule | None = StorageRule.VERBATIM
    senders: Sequence[Mapping[str, str]] = (ASSUMED_SENDER,)


@dataclass(frozen=True)
class ProblemReport:
    """One placeholder that would render empty, where, and what to do about it."""

    reason: RefusalReason
    remedy: Remedy
    message: str
    key: str
    token: str | None = None
    step: int | None = None
    variation: str | None = None
    part: str | None = None


@dataclass(frozen=True)
class Ready:
    lead_object: LeadObject
    filled: tuple[str, ...] = ()
    dry_run: DryRun | None = None


@dataclass(frozen=True)
class Refused:
    reason: RefusalReason
    remedy: Remedy
    message: str
    keys: tuple[str, ...] = ()
    problems: tuple[ProblemReport, ...] = ()
    lead_object: LeadObject | None = None
    dry_run: DryRun | None = None

    @property
    def first(self) -> ProblemReport | None:
        return self.problems[0] if self.problems else None


ReadinessResult = Ready | Refused


def _status_refusal(status: LeadStatus | None, variables: Mapping[str, object] | None) -> Refused | None:
    if status in (None, LeadStatus.NEW, LeadStatus.AUDIT_QUEUED):
        return Refused(RefusalReason.NOT_AUDITED, Remedy.START_AUDIT,
                       "Run an audit on the lead first via Start audit (domain).")
    if status is LeadStatus.BOUNCED:
        return Refused(RefusalReason.BOUNCED, Remedy.RE_AUDIT_OR_REMOVE, "The lead's email bounced. Re-audit or remove the lead.")
    if status is LeadStatus.AUDIT_COMPLETE:
        # Even with older variables stored: audit_complete means the newest audit's writeback has not
        # landed, so what is stored describes an older audit.
        return Refused(RefusalReason.WRITEBACK_MISSING, Remedy.RE_AUDIT,
                       "Status is audit_complete but the writeback never landed. Re-audit the lead. "
                       "The new writeback fills the variables and the status atomically.")
    if status in READY_STATUSES and not variables:
        return Refused(RefusalReason.VARIABLES_MISSING, Remedy.RE_AUDIT,
                       f"Status is {status.value} but plusvibeLeadData.lastOutboundWriteback.variables is missing. "
                       "Re-audit the lead.")
    return None


def _email_refusal(email: str | None) -> Refused | None:
    trimmed = (email or "").strip()
    if not trimmed:
        return Refused(RefusalReason.CONTACT_EMAIL_MISSING, Remedy.EDIT_LEAD, "The lead has no contact email. Edit the lead to add one.")
    if not _EMAIL.match(trimmed):
        return Refused(RefusalReason.CONTACT_EMAIL_MISSING, Remedy.EDIT_LEAD,
                       "The lead's contact email is not a valid address. Edit the lead to fix it.")
    return None


@lru_cache(maxsize=4096)
def _base(key: str) -> str:
    """The variable a token is about: lowercase, without a `custom_` prefix."""
    return key.lower().removeprefix(CUSTOM_PREFIX)


@lru_cache(maxsize=4096)
def is_audit_key(key: str) -> bool:
    """A variable the audit or the copy generator produces (with or without `custom_`)."""
    base = _base(key)
    return base in PROFILE_KEYS or is_body_key(base)


def is_valid_value(key: str, value: str) -> bool:
    """A non-blank value PlusVibe would render, fit for its key: audit values must match their type; no value
    may carry a `{{` (PlusVibe renders once, so it would go out literally)."""
    if is_audit_key(key):
        return is_populated(_base(key), value)
    return "{{" not in value


def _sent_value(lead: LeadObject, key: str) -> str:
    for candidate in (key, key.lower()):
        value = lead.custom_variables.get(candidate)
        if value is not None:
            return value
    return ""


def report_problem(problem: Problem, lead: LeadObject, rule_known: bool) -> ProblemReport:
    hole, ref = problem.hole, problem.ref
    where = f"step {ref.step}, variation {ref.variation}, {ref.part}"
    token = hole.source
    key = hole.key
    fallback = token.lower().startswith("{{fallback")
    what = f"{token} ({where})" + (" renders empty: every fallback option is blank for this lead" if fallback else "")

    def report(reason: RefusalReason, remedy: Remedy, message: str) -> ProblemReport:
        return ProblemReport(reason, remedy, message, key, token, ref.step, ref.variation, ref.part)

    if hole.kind == "invalid":
        return report(RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT,
                      f"{token} ({where}) would render {_sent_value(lead, key)!r}, which is not a valid {_base(key)}. "
                      "Re-audit the lead.")
    sent_as_custom = any(k in lead.custom_variables for k in (key, key.lower()))
    if key and not fallback and sent_as_custom and problem.rule is StorageRule.PREFIXED:
        # Under the prefixed rule a custom variable renders only as {{custom_<name>}}, whatever its value.
        if rule_known:
            return report(RefusalReason.TEMPLATE_VARIABLE_UNPREFIXED, Remedy.EDIT_CAMPAIGN,
                          f"{token} ({where}) renders empty: this PlusVibe workspace stores custom variables as "
                          f"custom_<name>. Edit the campaign to use {{{{custom_{key}}}}}.")
        return report(RefusalReason.CUSTOM_STORAGE_UNKNOWN, Remedy.SET_CUSTOM_STORAGE,
                      f"{token} ({where}) renders only if this PlusVibe workspace stores custom variables under their "
                      f"own name, which is not known yet. Set the workspace's custom-variable storage, or edit the "
                      f"campaign to use {{{{custom_{key}}}}}, which renders either way.")
    if key and is_audit_key(key):
        return report(RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT, f"{what}: {_base(key)} is empty. Re-audit the lead.")
    if key and _base(key) in _LEAD_FIELDS:
        name = _LEAD_FIELD_NAMES.get(_base(key), _base(key))
        return report(RefusalReason.VARIABLES_EMPTY, Remedy.EDIT_LEAD,
                      f"{what}: the lead has no {name}. Edit the lead to add it.")
    if key.lower() in SENDER_FIELDS:
        return report(RefusalReason.SENDER_FIELD_EMPTY, Remedy.EDIT_MAILBOX,
                      f"{what}: a mailbox of the campaign has no value for {key.lower()}. Edit the mailbox in PlusVibe.")
    return report(RefusalReason.TEMPLATE_VARIABLE_UNKNOWN, Remedy.EDIT_CAMPAIGN,
                  f"{what}: nothing in the system fills {token}. Edit the campaign, or give the lead that value.")


def _unknown_templates_problems(lead: LeadObject) -> list[ProblemReport]:
    """Campaign templates unreadable: all 18 profile keys and the step-1 body keys must be populated."""
    keys = [*PROFILE_KEYS, *body_keys(1)]
    return [ProblemReport(RefusalReason.VARIABLES_EMPTY, Remedy.RE_AUDIT, "", key)
            for key in keys if not is_populated(key, lead.custom_variables.get(key))]


def _refusal(problems: list[ProblemReport], lead: LeadObject, run: DryRun | None) -> Refused:
    ordered = sorted(problems, key=lambda p: _PRIORITY.index(p.remedy))
    first = ordered[0]
    keys = tuple(dict.fromkeys(p.key for p in ordered if p.key))
    if first.remedy is Remedy.RE_AUDIT:
        message = f"Required merge variables are empty or invalid: {', '.join(keys)}. Re-audit the lead."
        if first.message:
            message += f" First: {first.message}"
    else:
        message = first.message
        if len(ordered) > 1:
            message += f" ({len(ordered) - 1} more problem(s) listed.)"
    return Refused(first.reason, first.remedy, message, keys, tuple(ordered), lead, run)


def check_readiness(lead: LeadSnapshot, target: SendTarget, *, facts: LeadFacts, tone: Tone) -> ReadinessResult:
    """Ready (with the lead object to send), or why not: status, then email, then the dry run of the send.

    Body keys the campaign needs but the stored writeback lacks (more steps than it knew of) are generated
    from the stored profile first. The legacy status `sent` is judged as `email_sent`."""
    status = normalise_status(lead.status)
    refusal = _status_refusal(status, lead.variables) or _email_refusal(lead.fields.email)
    if refusal is not None:
        return refusal
    assert lead.variables is not None  # a ready status without variables was refused above
    names = target.templates.names if target.templates is not None else frozenset(body_keys(1))
    wanted = {_base(name) for name in names if is_body_key(_base(name))}
    fill = fill_body_keys(lead.variables, keys=wanted, lead=facts, tone=tone, steps=target.steps)
    lead_object = build_lead_object(lead.fields, fill.variables, names=names, rule=target.rule)
    if target.templates is None:
        problems = _unknown_templates_problems(lead_object)
        return _refusal(problems, lead_object, None) if problems else Ready(lead_object, fill.filled)
    rules = [target.rule] if target.rule is not None else [StorageRule.VERBATIM, StorageRule.PREFIXED]
    run = dry_run(target.templates, lead_object, rules=rules, senders=target.senders or (ASSUMED_SENDER,),
                  is_valid=is_valid_value)
    if run.clean:
        return Ready(lead_object, fill.filled, run)
    reports = [report_problem(problem, lead_object, target.rule is not None) for problem in run.problems]
    return _refusal(reports, lead_object, run)

