"""The one function that builds what the push sends for a lead (docs/TEMPLATES.md §3).

The push sends its output with `/lead/add`; the readiness guard and the send preview render the campaign
against that same output. There is no second list of "what we send".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from leads.domain.send_dry_run.context import CUSTOM_PREFIX, LeadObject, StorageRule


@dataclass(frozen=True)
class LeadFields:
    """The lead's own fields, as the leads service stores them."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    domain: str | None = None
    title: str | None = None
    phone: str | None = None
    notes: str | None = None
    # The operator's own fields (domain/custom_fields.py).
    custom: Mapping[str, str] = field(default_factory=dict)


def standard_fields(lead: LeadFields) -> dict[str, str]:
    return {
        "first_name": lead.first_name or "",
        "last_name": lead.last_name or "",
        "company_name": lead.company_name or "",
        "company_website": lead.domain or "",
        "phone_number": lead.phone or "",
        "notes": lead.notes or "",
    }


def _unslotted_fields(lead: LeadFields) -> dict[str, str]:
    """Lead fields `/lead/add` has no slot for: they travel as custom variables."""
    return {"job_title": lead.title or ""}


def build_lead_object(
    lead: LeadFields,
    variables: Mapping[str, str],
    *,
    names: Collection[str],
    rule: StorageRule | None,
) -> LeadObject:
    """The `/lead/add` lead: standard fields ("" when empty, so Liquid sees blank rather than nil), and as custom
    variables the operator's custom fields, the writeback's `variables`, the unslotted lead fields and, for each
    `{{custom_K}}` the campaign names, what makes it render under `rule` (None: not known, so under both rules)."""
    fields = standard_fields(lead)
    # The operator's fields first: their names never collide with what the platform fills (domain/custom_fields.py).
    custom: dict[str, str] = {**lead.custom, **variables, **_unslotted_fields(lead)}
    for name in sorted(names):
        token = name.lower()
        if not token.startswith(CUSTOM_PREFIX) or token in custom:
            continue
        base = token.removeprefix(CUSTOM_PREFIX)
        value = custom.get(base, fields.get(base))
        if value is None:
            continue
        if rule is not StorageRule.PREFIXED:
            custom[token] = value  # verbatim: stored as `custom_K`
        if rule is not StorageRule.VERBATIM and base not in custom:
            custom[base] = value  # prefixed: sent as `K`, stored as `custom_K` (a standard field sent again)
    return LeadObject(email=lead.email.strip(), fields=fields, custom_variables=custom)
