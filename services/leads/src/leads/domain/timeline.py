"""A lead's story on one screen (Lead detail's Timeline): every status change with its actor, every audit run
(requested, completed with its grade, failed with its error), every writeback of copy (stored, or delivered to
PlusVibe), every set of generated previews, every push to a campaign (and its removal), and every PlusVibe webhook
about the lead (sent, opened, replies, bounces, labels), each with its raw payload; newest first. Pure: the rows come
from the caller."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Kind = Literal["status", "audit_requested", "audit_completed", "audit_failed", "writeback", "preview", "push",
               "removed", "reply", "webhook"]
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: Kind
    title: str
    detail: str = ""
    actor: str = ""
    raw: Mapping[str, Any] | None = None  # a webhook's payload as PlusVibe sent it


class StatusChange(Protocol):
    @property
    def from_status(self) -> str | None: ...
    @property
    def to_status(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def changed_at(self) -> datetime: ...


class Run(Protocol):
    @property
    def domain(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def requested_at(self) -> datetime: ...
    @property
    def requested_by(self) -> str: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def grade(self) -> str | None: ...
    @property
    def score(self) -> int | None: ...
    @property
    def error_message(self) -> str | None: ...


class Email(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def tone(self) -> str | None: ...
    @property
    def writeback_status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class Push(Protocol):
    @property
    def campaign_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def pushed_at(self) -> datetime: ...


class Webhook(Protocol):
    @property
    def activity(self) -> str: ...
    @property
    def webhook_event(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def raw_payload(self) -> Mapping[str, Any]: ...


def _status(change: StatusChange) -> Entry:
    if change.from_status == change.to_status:  # a change of the lead that kept its status (e.g. the first sync's link)
        return Entry(change.changed_at, "status", change.reason[:1].upper() + change.reason[1:], "", change.actor)
    moved = f"{change.from_status} → {change.to_status}" if change.from_status else f"created as {change.to_status}"
    return Entry(change.changed_at, "status", f"Status {moved}", change.reason, change.actor)


def _runs(run: Run) -> list[Entry]:
    out = [Entry(run.requested_at, "audit_requested", f"Audit requested for {run.domain}", "", run.requested_by)]
    if run.status == "completed" and run.completed_at is not None:
        out.append(Entry(run.completed_at, "audit_completed", f"Audit completed: grade {run.grade or '—'}",
                         f"score {run.score}" if run.score is not None else ""))
    elif run.status == "failed" and run.completed_at is not None:
        out.append(Entry(run.completed_at, "audit_failed", "Audit failed", run.error_message or ""))
    return out


def _emails(emails: Iterable[Email]) -> list[Entry]:
    """One entry per writeback or generation (the steps made at one moment), not one per step."""
    groups: dict[tuple[str, datetime], list[Email]] = {}
    for email in emails:
        groups.setdefault((email.type, email.created_at), []).append(email)
    out = []
    for (kind, at), steps in groups.items():
        count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
        tone = next((e.tone for e in steps if e.tone), None)
        if kind == "writeback":
            delivered = all(e.writeback_status == "delivered" for e in steps)
            title = "Copy written back to PlusVibe" if delivered else "Copy stored (not delivered to PlusVibe)"
            out.append(Entry(at, "writeback", title, f"{count}{f', tone {tone}' if tone else ''}"))
        else:
            out.append(Entry(at, "preview", "Email previews generated", f"{count}{f', tone {tone}' if tone else ''}"))
    return out


def _push(push: Push) -> Entry:
    if push.state == "removed":
        return Entry(push.pushed_at, "removed", f"Pushed to campaign {push.campaign_id}, since removed")
    return Entry(push.pushed_at, "push", f"Pushed to campaign {push.campaign_id}",
                 "" if push.state == "enrolled" else f"enrolment {push.state}")


def _plain(value: object) -> str:
    """A payload's text or HTML as one line of plain text (shown as text, never as markup)."""
    if not isinstance(value, str):
        return ""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", value)).strip()
    text = re.sub(r" ([,.;:!?])", r"\1", text)  # a tag that closed before punctuation left a space
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1] + "…"


def _webhook(hook: Webhook) -> Entry:
    raw = hook.raw_payload
    quoted = f"“{hook.subject}”" if hook.subject else ""
    if hook.activity == "replied":
        said = _plain(raw.get("text_body") or raw.get("last_lead_reply") or raw.get("body"))
        return Entry(hook.observed_at, "reply", "Reply received", " · ".join(x for x in (quoted, said) if x), raw=raw)
    titles = {"sent": "Email sent", "opened": "Email opened", "bounced": "Email bounced",
              "label_changed": f"Labelled {hook.label or '—'} in PlusVibe"}
    title = titles.get(hook.activity, f"PlusVibe webhook {hook.webhook_event}")
    detail = _plain(raw.get("bounce_msg")) if hook.activity == "bounced" else quoted
    return Entry(hook.observed_at, "webhook", title, detail, raw=raw)


def timeline(history: Sequence[StatusChange], runs: Sequence[Run], emails: Sequence[Email], pushes: Sequence[Push],
             webhooks: Sequence[Webhook]) -> list[Entry]:
    """Every entry, newest first (ties: the order the kinds are listed in, so a list is stable across reads)."""
    entries = [_status(h) for h in history]
    for run in runs:
        entries.extend(_runs(run))
    entries.extend(_emails(emails))
    entries.extend(_push(p) for p in pushes)
    entries.extend(_webhook(w) for w in webhooks)
    order = {kind: i for i, kind in enumerate(Kind.__args__)}  # type: ignore[attr-defined]
    return sorted(entries, key=lambda e: (-e.at.timestamp(), order[e.kind]))
