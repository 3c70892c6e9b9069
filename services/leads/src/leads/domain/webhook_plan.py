"""Which PlusVibe webhooks a workspace's integration keeps, removes or adds (pure rules, docs/INTEGRATIONS.md).

A workspace owns the hooks named `hook_name(workspace)` in its PlusVibe workspace (and the one it recorded). Exactly
one of them should exist: at the workspace's webhook URL, for every event the platform reads, with the workspace's
current secret, active. The plan keeps one such hook if there is one (the recorded one first) and removes every other
hook it owns, so a hook left behind by a crash between PlusVibe's answer and our commit, by a concurrent connect or by
an earlier URL is removed on the next connect or test. Hooks it does not own are never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

# The PlusVibe events the platform reads (unibox maps them to EmailActivityReceived). A hook registered before one
# was added here does not serve: the next connect or Test replaces it (`plan`).
HOOK_EVENTS: Final = (
    "EMAIL_SENT",
    "FIRST_EMAIL_REPLIES",
    "ALL_EMAIL_REPLIES",
    "ALL_POSITIVE_REPLIES",
    "BOUNCED_EMAIL",
    "LEAD_MARKED_AS_INTERESTED",
    "LEAD_MARKED_AS_NOT_INTERESTED",
    "LEAD_MARKED_AS_MEETING_BOOKED",
    "LEAD_MARKED_AS_OUT_OF_OFFICE",
    "LEAD_MARKED_AS_WRONG_PERSON",
    "LEAD_MARKED_AS_CLOSED",
    "SYSTEM_ALERT",
)
# The SYSTEM_ALERT kinds the hook asks for (docs/CAMPAIGN-STATES.md): what stops or endangers sending.
HOOK_ALERTS: Final = (
    "CAMPAIGN_AUTO_PAUSED",
    "EMAIL_ACCOUNT_DISCONNECTED",
    "EMAIL_ACCOUNT_FORWARDING_BOUNCED",
    "INTEGRATION_DISCONNECTED",
    "WEBHOOK_DISABLED",
)
WEBHOOK_PATH: Final = "/api/plusvibe/webhooks"
_NAME_PREFIX: Final = "outreach-platform:"


def hook_name(workspace: str, public_base_url: str) -> str:
    """The name a deployment gives its workspace's hook. It carries a digest of the deployment's public URL: two
    deployments (staging and production, say) connected to one PlusVibe workspace never take each other's hook for
    their own (a hook recorded under an earlier URL is still recognised by its recorded id)."""
    digest = hashlib.sha256(public_base_url.rstrip("/").encode()).hexdigest()[:10]
    return f"{_NAME_PREFIX}{workspace}:{digest}"


def webhook_url(public_base_url: str, workspace: str) -> str:
    """Where PlusVibe posts a workspace's webhooks: unibox tells the workspace from the last path segment."""
    return f"{public_base_url.rstrip('/')}{WEBHOOK_PATH}/{workspace}"


@dataclass(frozen=True, slots=True)
class SeenHook:
    """A hook as PlusVibe lists it."""

    id: str
    name: str
    url: str
    events: frozenset[str]
    secret: str | None = field(repr=False)
    active: bool = True


@dataclass(frozen=True, slots=True)
class Wanted:
    name: str
    url: str
    secret: str = field(repr=False)
    events: frozenset[str] = field(default_factory=lambda: frozenset(HOOK_EVENTS))
    alerts: tuple[str, ...] = HOOK_ALERTS


@dataclass(frozen=True, slots=True)
class Plan:
    keep: str | None  # the id of the hook that already serves, or None: add one
    delete: tuple[str, ...]

    @property
    def add(self) -> bool:
        return self.keep is None


def owned(hooks: Sequence[SeenHook], wanted: Wanted, recorded_id: str) -> list[SeenHook]:
    return [h for h in hooks if h.name == wanted.name or (recorded_id and h.id == recorded_id)]


def serves(hook: SeenHook, wanted: Wanted) -> bool:
    return hook.active and hook.url == wanted.url and hook.secret == wanted.secret and wanted.events <= hook.events


def plan(hooks: Sequence[SeenHook], wanted: Wanted, *, recorded_id: str = "") -> Plan:
    mine = owned(hooks, wanted, recorded_id)
    serving = sorted((h for h in mine if serves(h, wanted)), key=lambda h: (h.id != recorded_id, h.id))
    keep = serving[0].id if serving else None
    return Plan(keep=keep, delete=tuple(h.id for h in mine if h.id != keep))


def removal(hooks: Sequence[SeenHook], name: str, *, recorded_id: str = "") -> tuple[str, ...]:
    """Every hook a disconnected (or moved) workspace owns here (`name` empty: only the recorded one)."""
    return tuple(h.id for h in hooks if (name and h.name == name) or (recorded_id and h.id == recorded_id))


def added(hooks: Sequence[SeenHook], wanted: Wanted) -> str:
    """The id of a hook just added, found again in the list when PlusVibe's answer carried none ("" if absent)."""
    return next((h.id for h in sorted(hooks, key=lambda h: h.id) if h.name == wanted.name and serves(h, wanted)), "")
