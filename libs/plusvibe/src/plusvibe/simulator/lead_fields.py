"""What the simulated PlusVibe stores for a lead, and the rendering context built from it (TEMPLATES.md §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The documented per-lead fields of /lead/add; anything else top-level is not stored.
STANDARD_FIELDS = (
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
CUSTOM_STORAGE_RULES = ("verbatim", "prefixed")


def stored_key(key: str, rule: str) -> str:
    """The key a custom variable sent as ``key`` is stored under: always prefixed under ``prefixed``."""
    return f"custom_{key}" if rule == "prefixed" else key


def store_custom(lead: dict[str, Any], variables: Mapping[str, Any], rule: str) -> None:
    lead["custom_variables"].update({stored_key(str(k), rule): v for k, v in variables.items()})


def sender_fields(mailbox: Mapping[str, Any]) -> dict[str, str]:
    """The sending mailbox's fields; they override any lead value of the same name."""
    payload = mailbox.get("payload") or {}
    name = payload.get("name") or {}
    first = str(name.get("first_name") or "")
    last = str(name.get("last_name") or "")
    signature = payload.get("signature")
    return {
        "sender_first_name": first,
        "sender_last_name": last,
        "sender_name": f"{first} {last}".strip(),
        "sender_email": str(mailbox.get("email") or ""),
        "sender_signature": str(signature) if signature else first,
    }


def rendering_context(lead: Mapping[str, Any], mailbox: Mapping[str, Any] | None) -> dict[str, Any]:
    """``email``, then stored standard fields, then custom variables, then the sender fields."""
    context: dict[str, Any] = {"email": lead["email"]}
    context.update({k: lead[k] for k in STANDARD_FIELDS if lead.get(k) is not None})
    context.update(lead["custom_variables"])
    if mailbox is not None:
        context.update(sender_fields(mailbox))
    return context
