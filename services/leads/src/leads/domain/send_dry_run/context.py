"""What PlusVibe stores for a lead and renders from (docs/TEMPLATES.md §1): the rendering context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# The documented per-lead fields of `/lead/add`; any other field must travel in `custom_variables`.
STANDARD_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "company_name",
    "company_website",
    "phone_number",
    "linkedin_person_url",
    "linkedin_company_url",
    "address_line",
    "city",
    "country",
    "country_code",
    "notes",
)
# Filled by PlusVibe from the sending mailbox, over any lead value of the same name.
SENDER_FIELDS: tuple[str, ...] = (
    "sender_first_name",
    "sender_last_name",
    "sender_name",
    "sender_email",
    "sender_signature",
)
CUSTOM_PREFIX = "custom_"


class StorageRule(StrEnum):
    """How a PlusVibe workspace stores a custom variable sent as `k`."""

    VERBATIM = "verbatim"  # as `k`
    PREFIXED = "prefixed"  # as `custom_k` (always prefixed)


@dataclass(frozen=True)
class LeadObject:
    """One lead of a `/lead/add` call, exactly as the push sends it."""

    email: str
    fields: Mapping[str, str]  # standard fields
    custom_variables: Mapping[str, str]


def stored_key(key: str, rule: StorageRule) -> str:
    return CUSTOM_PREFIX + key if rule is StorageRule.PREFIXED else key


def sender_context(first_name: str, last_name: str, email: str, signature: str | None = None) -> dict[str, str]:
    """The sender fields of one mailbox."""
    return {
        "sender_first_name": first_name,
        "sender_last_name": last_name,
        "sender_name": f"{first_name} {last_name}".strip(),
        "sender_email": email,
        "sender_signature": signature or first_name,
    }


def rendering_context(lead: LeadObject, rule: StorageRule, sender: Mapping[str, str]) -> dict[str, object]:
    """email, stored standard fields, stored custom variables (over same-named fields), sender fields (over all)."""
    context: dict[str, object] = {"email": lead.email}
    context.update({name: value for name, value in lead.fields.items() if name in STANDARD_FIELDS})
    context.update({stored_key(key, rule): value for key, value in lead.custom_variables.items()})
    context.update(sender)
    return context
