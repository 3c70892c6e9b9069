"""The rules of the first sync from PlusVibe (docs/FIRST-SYNC.md): what one row of PlusVibe's workspace leads does
to the workspace's leads with the same email. Pure: the rows and our leads come from the caller.

- No live lead has the email: a lead is created (status `new`, in the row's campaign).
- One lead has it and no campaign: it is linked to the row's campaign.
- One lead has it and that campaign already: unchanged.
- One lead has it in another campaign: left as it is, and the disagreement is a conflict.
- Its first or last name differs from PlusVibe's non-empty value: never overwritten, reported as a conflict (whatever
  happens to its campaign).
- Several leads have the email, or the row's email is not an address: nothing happens, reported as a conflict.

Rows are taken in PlusVibe's order and each sees what the rows before it did: the first row of an email creates or
links its lead, a later row of the same email in another campaign is a conflict. So one email never makes two
leads, and applying the same rows again changes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

ACTOR = "plusvibe-sync"
CREATED_REASON = "synced from PlusVibe"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
# Addresses at these domains say nothing about the lead's company: no domain is derived from them.
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "msn.com", "icloud.com",
    "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "yandex.com",
    "mail.com", "zoho.com",
})
NAME_FIELDS = ("first_name", "last_name")


@dataclass(frozen=True)
class PlusVibeLead:
    """One row of PlusVibe's workspace leads: a lead in one campaign (a lead in two campaigns is two rows)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    campaign_id: str | None = None
    company_name: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class KnownLead:
    """A live lead of the workspace, as far as the rules look at it."""

    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    campaign_id: str | None


class Action(StrEnum):
    CREATE = "created"
    LINK = "linked"
    KEEP = "unchanged"
    LEAVE = "left"  # a conflict that leaves the lead (or the row) alone


@dataclass(frozen=True)
class Conflict:
    """A value of ours that PlusVibe disagrees with, kept: the operator decides."""

    lead_id: uuid.UUID | None
    email: str
    field: str  # campaign | first_name | last_name | email
    ours: str | None
    plusvibe: str | None


@dataclass(frozen=True)
class Decision:
    row: PlusVibeLead
    action: Action
    lead_id: uuid.UUID | None  # the lead created, linked or kept (None: the row was left)
    conflicts: tuple[Conflict, ...] = ()


def email_key(email: str | None) -> str:
    """How emails are matched: without surrounding blanks, case-insensitively."""
    return (email or "").strip().lower()


def usable_email(email: str | None) -> bool:
    key = email_key(email)
    return len(key) <= 320 and bool(EMAIL.match(key))


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _same_name(ours: str | None, theirs: str | None) -> bool:
    """PlusVibe's empty value agrees with anything; otherwise the two agree up to blanks and case."""
    wanted = _text(theirs)
    return wanted is None or (_text(ours) or "").casefold() == wanted.casefold()


def name_conflicts(lead: KnownLead, row: PlusVibeLead) -> tuple[Conflict, ...]:
    return tuple(Conflict(lead.id, email_key(row.email), name, getattr(lead, name), _text(getattr(row, name)))
                 for name in NAME_FIELDS if not _same_name(getattr(lead, name), getattr(row, name)))


def decide(row: PlusVibeLead, matches: Sequence[KnownLead], new_id: Callable[[], uuid.UUID]) -> Decision:
    """What `row` does, given the live leads with its email (`new_id` is asked only when a lead is created)."""
    email = email_key(row.email)
    if not usable_email(email):
        return Decision(row, Action.LEAVE, None, (Conflict(None, email, "email", None, row.email),))
    if not matches:
        return Decision(row, Action.CREATE, new_id())
    if len(matches) > 1:
        return Decision(row, Action.LEAVE, None, (Conflict(None, email, "email", f"{len(matches)} leads", email),))
    lead = matches[0]
    names = name_conflicts(lead, row)
    campaign = _text(row.campaign_id)
    if campaign is None or lead.campaign_id == campaign:
        return Decision(row, Action.KEEP, lead.id, names)
    if lead.campaign_id is None:
        return Decision(row, Action.LINK, lead.id, names)
    return Decision(row, Action.LEAVE, None, (Conflict(lead.id, email, "campaign", lead.campaign_id, campaign),
                                              *names))


def plan_page(rows: Iterable[PlusVibeLead], known: Mapping[str, Sequence[KnownLead]],
              new_id: Callable[[], uuid.UUID]) -> list[Decision]:
    """The decision of each row in order, each row seeing what the rows before it created or linked. `known`: the
    live leads of every email of the rows (`email_key` → leads)."""
    leads = {key: list(found) for key, found in known.items()}
    out: list[Decision] = []
    for row in rows:
        key = email_key(row.email)
        decision = decide(row, leads.get(key, ()), new_id)
        if decision.action is Action.CREATE and decision.lead_id is not None:
            leads[key] = [KnownLead(decision.lead_id, key, _text(row.first_name), _text(row.last_name),
                                    _text(row.campaign_id))]
        elif decision.action is Action.LINK:
            leads[key] = [replace(lead, campaign_id=_text(row.campaign_id)) for lead in leads[key]]
        out.append(decision)
    return out


@dataclass(frozen=True)
class NewLead:
    """The fields of a lead the sync creates."""

    email: str
    first_name: str | None
    last_name: str | None
    campaign_id: str | None
    company_name: str | None
    domain: str | None


def new_lead(row: PlusVibeLead) -> NewLead:
    email = email_key(row.email)
    return NewLead(email=email, first_name=_cut(row.first_name, 200), last_name=_cut(row.last_name, 200),
                   campaign_id=_cut(row.campaign_id, 100), company_name=_cut(row.company_name, 300),
                   domain=website_host(row.website) or email_domain(email))


def _cut(value: str | None, limit: int) -> str | None:
    text = _text(value)
    return text[:limit] if text else None


def website_host(website: str | None) -> str | None:
    """`https://www.Shop.com/about` → `www.shop.com`; None when it is no host name."""
    text = (website or "").strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit(":", 1)[0].rstrip(".")
    return text if HOST.match(text) else None


def email_domain(email: str) -> str | None:
    """The company domain an address tells (None for free-mail providers and odd addresses)."""
    domain = email_key(email).rsplit("@", 1)[-1]
    return domain if HOST.match(domain) and domain not in FREE_MAIL else None


def update_reason(campaign_id: str) -> str:
    """The history reason of a lead the sync linked to a campaign (at most 100 characters, the column's size)."""
    return f"{CREATED_REASON}: campaign {campaign_id}"[:100]
