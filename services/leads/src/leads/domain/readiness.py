"""The readiness guard: may this lead be enrolled in a campaign now? (DESIGN §3, audit-profile.md)

Pure: the handler gives a snapshot of the lead and the campaign's placeholders and gets back Ready or
Refused(reason, remedy, message). Checks run in the order that gives the operator the most useful
answer first: the pipeline status (nothing else matters before an audit landed), then the contact
email, then the individual merge variables.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from contracts.profile import PROFILE_KEYS, body_keys
from contracts.status import READY_STATUSES, LeadStatus
from leads.domain.legacy import normalise_status
from leads.domain.merge_values import is_populated

# PlusVibe lead fields a template may use (`/lead/add` per-lead fields). The contact email is checked
# on its own, so `{{email}}` needs no entry here.
CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "company_name",
    "company_website",
    "job_title",
    "phone_number",
)
_BODY_KEY = re.compile(r"^email_(subject|body|cta)(_[1-9][0-9]*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Some PlusVibe workspaces store custom variables as `custom_<key>` and templates use that token.
_CUSTOM_PREFIX = "custom_"


class RefusalReason(StrEnum):
    NOT_AUDITED = "not_audited"
    WRITEBACK_MISSING = "writeback_missing"
    VARIABLES_MISSING = "variables_missing"
    BOUNCED = "bounced"
    CONTACT_EMAIL_MISSING = "contact_email_missing"
    VARIABLES_EMPTY = "variables_empty"


class Remedy(StrEnum):
    START_AUDIT = "start_audit"
    RE_AUDIT = "re_audit"
    RE_AUDIT_OR_REMOVE = "re_audit_or_remove"
    EDIT_LEAD = "edit_lead"


@dataclass(frozen=True)
class LeadSnapshot:
    """What the guard needs to know about one lead.

    `variables` is `plusvibeLeadData.lastOutboundWriteback.variables` (None when no writeback landed);
    `contact_fields` holds the PlusVibe lead fields the push would send (first_name, company_name, ...).
    """

    status: LeadStatus | None
    contact_email: str | None
    variables: Mapping[str, object] | None
    contact_fields: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Ready:
    required_keys: frozenset[str]


@dataclass(frozen=True)
class Refused:
    reason: RefusalReason
    remedy: Remedy
    message: str
    keys: tuple[str, ...] = ()  # the offending keys, for variables_empty


ReadinessResult = Ready | Refused


def is_body_key(key: str) -> bool:
    return bool(_BODY_KEY.match(key))


def _merge_key(placeholder: str) -> str | None:
    """The stored variable or contact field a placeholder renders, None if we do not populate it."""
    key = placeholder.strip().lower()
    for candidate in (key, key.removeprefix(_CUSTOM_PREFIX)):
        if candidate in PROFILE_KEYS or is_body_key(candidate):
            return candidate
    return key if key in CONTACT_FIELDS else None


def required_keys(placeholders: Collection[str] | None) -> frozenset[str]:
    """Placeholders ∩ (18 profile keys ∪ body keys ∪ contact fields); all 18 + step-1 body keys if unknown.

    Other placeholders (sender fields, custom keys of other tools, `{{random|…}}`) are not ours to fill.
    """
    if placeholders is None:
        return frozenset(PROFILE_KEYS) | frozenset(body_keys(1))
    return frozenset(key for key in map(_merge_key, placeholders) if key is not None)


def _status_refusal(status: LeadStatus | None, variables: Mapping[str, object] | None) -> Refused | None:
    if status in (None, LeadStatus.NEW, LeadStatus.AUDIT_QUEUED):
        return Refused(
            RefusalReason.NOT_AUDITED,
            Remedy.START_AUDIT,
            "Run an audit on the lead first via Start audit (domain).",
        )
    if status is LeadStatus.BOUNCED:
        return Refused(RefusalReason.BOUNCED, Remedy.RE_AUDIT_OR_REMOVE, "The lead's email bounced. Re-audit or remove the lead.")
    if status is LeadStatus.AUDIT_COMPLETE:
        # Even with older variables stored: audit_complete means the newest audit's writeback has not
        # landed, so what is stored describes an older audit.
        return Refused(
            RefusalReason.WRITEBACK_MISSING,
            Remedy.RE_AUDIT,
            "Status is audit_complete but the writeback never landed. Re-audit the lead. "
            "The new writeback fills the variables and the status atomically.",
        )
    if status in READY_STATUSES and not variables:
        return Refused(
            RefusalReason.VARIABLES_MISSING,
            Remedy.RE_AUDIT,
            f"Status is {status.value} but plusvibeLeadData.lastOutboundWriteback.variables is missing. Re-audit the lead.",
        )
    return None


def _email_refusal(email: str | None) -> Refused | None:
    trimmed = (email or "").strip()
    if not trimmed:
        return Refused(RefusalReason.CONTACT_EMAIL_MISSING, Remedy.EDIT_LEAD, "The lead has no contact email. Edit the lead to add one.")
    if not _EMAIL.match(trimmed):
        return Refused(
            RefusalReason.CONTACT_EMAIL_MISSING,
            Remedy.EDIT_LEAD,
            "The lead's contact email is not a valid address. Edit the lead to fix it.",
        )
    return None


def _variables_refusal(lead: LeadSnapshot, keys: frozenset[str]) -> Refused | None:
    variables = lead.variables or {}
    audit_keys = sorted(k for k in keys if k not in CONTACT_FIELDS and not is_populated(k, variables.get(k)))
    contact_keys = sorted(k for k in keys if k in CONTACT_FIELDS and not is_populated(k, lead.contact_fields.get(k)))
    if audit_keys:
        # A re-audit is needed either way; any empty contact field is named too so one round trip fixes all.
        return Refused(
            RefusalReason.VARIABLES_EMPTY,
            Remedy.RE_AUDIT,
            f"Required merge variables are empty or invalid: {', '.join(audit_keys + contact_keys)}. Re-audit the lead.",
            tuple(audit_keys + contact_keys),
        )
    if contact_keys:
        return Refused(
            RefusalReason.VARIABLES_EMPTY,
            Remedy.EDIT_LEAD,
            f"The campaign uses contact fields this lead lacks: {', '.join(contact_keys)}. Edit the lead.",
            tuple(contact_keys),
        )
    return None


def check_readiness(lead: LeadSnapshot, placeholders: Collection[str] | None) -> ReadinessResult:
    """Ready, or the first reason (status, then email, then variables) this lead may not be enrolled.

    `placeholders`: the keys the campaign's templates use (see placeholders.py), None when unknown.
    The legacy status `sent` is judged as `email_sent` (it is the same state under an old name).
    """
    status = normalise_status(lead.status)
    keys = required_keys(placeholders)
    refusal = (
        _status_refusal(status, lead.variables)
        or _email_refusal(lead.contact_email)
        or _variables_refusal(lead, keys)
    )
    return refusal if refusal is not None else Ready(keys)
