"""The status machine: who may move a lead's status, and when (docs/ARCHITECTURE.md, Flows).

Every function returns a TransitionDecision; the handler applies `to_status` (when set), records the
history row (from, to, actor, reason) and decides from `apply_effect` whether the event's other effect
(link the run, store the variables, update enrichment) still applies.

- Operator changes always apply (any dropdown status; never the legacy `sent`).
- Audit-driven changes follow the lead's newest audit run; a stale run changes nothing.
- Audit-driven changes never pull a lead out of an engagement state (email_sent, opened, replied,
  retargeted, converted): its history with the contact matters more than "an audit is running", and
  a re-audit of such a lead only refreshes its variables.
- Webhook-driven changes only move forward by rank; a late or duplicated event is a no-op.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from contracts.status import LeadStatus
from leads.domain.legacy import normalise_status


class TransitionReason(StrEnum):
    # a status change happened
    OPERATOR_CHANGE = "operator_change"
    LEGACY_NORMALISED = "legacy_normalised"
    AUDIT_REQUESTED = "audit_requested"
    AUDIT_COMPLETED = "audit_completed"
    WRITEBACK_COMPLETED = "writeback_completed"
    EMAIL_SENT = "email_sent"
    EMAIL_OPENED = "email_opened"
    EMAIL_REPLIED = "email_replied"
    EMAIL_BOUNCED = "email_bounced"
    MARKED_CONVERTED = "marked_converted"
    # the status stays
    UNCHANGED = "unchanged"
    STALE_RUN = "stale_run"
    KEEPS_STATUS = "keeps_status"  # the event applies, but the lead is already further along
    NOT_FORWARD = "not_forward"  # webhook would not move the lead forward
    ENRICHMENT_ONLY = "enrichment_only"
    LEGACY_NOT_SELECTABLE = "legacy_not_selectable"
    AUDIT_FAILED = "audit_failed"


class ActivityKind(StrEnum):
    SENT = "sent"
    OPENED = "opened"
    REPLIED = "replied"
    BOUNCED = "bounced"
    LABELLED = "labelled"
    OTHER = "other"


# Labels (without the `LEAD_MARKED_AS_` prefix) that mean the deal is won; configurable per call.
DEFAULT_CONVERTING_LABELS: frozenset[str] = frozenset({"MEETING_BOOKED", "CLOSED"})
_LABEL_PREFIX = "LEAD_MARKED_AS_"

ACTOR_AUDITS = "audits"
ACTOR_WRITEBACK = "writeback"
ACTOR_PLUSVIBE = "plusvibe"

ENGAGED_STATUSES: frozenset[LeadStatus] = frozenset(
    {LeadStatus.EMAIL_SENT, LeadStatus.OPENED, LeadStatus.REPLIED, LeadStatus.RETARGETED, LeadStatus.CONVERTED}
)

# Forward order for webhook-driven moves. Bounced sits between opened and replied: it can follow any
# pre-reply state, and only a reply or a conversion (proof the address works) moves past it.
# Retargeted (operator-set, re-enrolled elsewhere) ranks with email_generated: ready to be sent again.
_RANK: dict[LeadStatus | None, int] = {
    None: -1,
    LeadStatus.NEW: 0,
    LeadStatus.AUDIT_QUEUED: 1,
    LeadStatus.AUDIT_COMPLETE: 2,
    LeadStatus.EMAIL_GENERATED: 3,
    LeadStatus.RETARGETED: 3,
    LeadStatus.EMAIL_SENT: 4,
    LeadStatus.OPENED: 5,
    LeadStatus.BOUNCED: 6,
    LeadStatus.REPLIED: 7,
    LeadStatus.CONVERTED: 8,
}


def rank(status: LeadStatus | None) -> int:
    return _RANK[normalise_status(status)]


@dataclass(frozen=True)
class TransitionDecision:
    from_status: LeadStatus | None
    to_status: LeadStatus | None  # None: keep the current status
    reason: TransitionReason
    actor: str
    apply_effect: bool = True  # False: ignore the event entirely (stale run, refused change)

    @property
    def changes_status(self) -> bool:
        return self.to_status is not None


@dataclass(frozen=True)
class RunRef:
    """An audit run and its per-lead sequence number (allocated by leads when it requests the run)."""

    run_id: str
    sequence: int


@dataclass(frozen=True)
class EmailActivity:
    kind: ActivityKind
    label: str | None = None  # e.g. "MEETING_BOOKED" or "LEAD_MARKED_AS_MEETING_BOOKED"


def _keep(current: LeadStatus | None, reason: TransitionReason, actor: str, *, apply: bool = True) -> TransitionDecision:
    return TransitionDecision(current, None, reason, actor, apply)


def _move(
    current: LeadStatus | None, target: LeadStatus, reason: TransitionReason, actor: str
) -> TransitionDecision:
    if current == target:
        return _keep(current, TransitionReason.UNCHANGED, actor)
    return TransitionDecision(current, target, reason, actor)


def operator_change(current: LeadStatus | None, requested: LeadStatus, *, actor: str) -> TransitionDecision:
    """The status dropdown: always applies, from any status to any dropdown status."""
    if requested is LeadStatus.SENT_LEGACY:
        return _keep(current, TransitionReason.LEGACY_NOT_SELECTABLE, actor, apply=False)
    return _move(current, requested, TransitionReason.OPERATOR_CHANGE, actor)


def legacy_normalisation(current: LeadStatus | None, *, actor: str) -> TransitionDecision:
    """The "normalise status" action and migration: `sent` → `email_sent`; anything else unchanged."""
    if current is LeadStatus.SENT_LEGACY:
        return TransitionDecision(current, LeadStatus.EMAIL_SENT, TransitionReason.LEGACY_NORMALISED, actor)
    return _keep(current, TransitionReason.UNCHANGED, actor)


def audit_requested(current: LeadStatus | None, *, actor: str) -> TransitionDecision:
    """Start audit: the lead waits for its new run (audit_queued), unless it is already engaged."""
    if normalise_status(current) in ENGAGED_STATUSES:
        return _keep(current, TransitionReason.KEEPS_STATUS, actor)
    return _move(current, LeadStatus.AUDIT_QUEUED, TransitionReason.AUDIT_REQUESTED, actor)


def is_newest_run(run: RunRef, newest: RunRef | None) -> bool:
    """`newest`: the lead's most recently requested run (None when the lead has no run recorded)."""
    return newest is None or run.run_id == newest.run_id or run.sequence > newest.sequence


def audit_completed(current: LeadStatus | None, *, run: RunRef, newest: RunRef | None) -> TransitionDecision:
    """Newest run completed → audit_complete, only from a status before it; a stale run changes nothing."""
    if not is_newest_run(run, newest):
        return _keep(current, TransitionReason.STALE_RUN, ACTOR_AUDITS, apply=False)
    if rank(current) <= rank(LeadStatus.AUDIT_COMPLETE):
        return _move(current, LeadStatus.AUDIT_COMPLETE, TransitionReason.AUDIT_COMPLETED, ACTOR_AUDITS)
    # E.g. the writeback (another topic) was applied first and the lead is already email_generated.
    return _keep(current, TransitionReason.KEEPS_STATUS, ACTOR_AUDITS)


def audit_failed(current: LeadStatus | None, *, run: RunRef, newest: RunRef | None) -> TransitionDecision:
    """A failed run never changes the status: the guard keeps refusing until a new audit succeeds."""
    applies = is_newest_run(run, newest)
    return _keep(current, TransitionReason.AUDIT_FAILED if applies else TransitionReason.STALE_RUN, ACTOR_AUDITS, apply=applies)


def writeback_completed(current: LeadStatus | None, *, run: RunRef, newest: RunRef | None) -> TransitionDecision:
    """Newest run's variables landed → email_generated (status and variables in one transaction).

    Engaged or bounced leads keep their status; their variables are still refreshed (apply_effect).
    """
    if not is_newest_run(run, newest):
        return _keep(current, TransitionReason.STALE_RUN, ACTOR_WRITEBACK, apply=False)
    if rank(current) <= rank(LeadStatus.EMAIL_GENERATED) and normalise_status(current) is not LeadStatus.RETARGETED:
        return _move(current, LeadStatus.EMAIL_GENERATED, TransitionReason.WRITEBACK_COMPLETED, ACTOR_WRITEBACK)
    return _keep(current, TransitionReason.KEEPS_STATUS, ACTOR_WRITEBACK)


def normalise_label(label: str | None) -> str:
    """`lead_marked_as_meeting_booked` / `MEETING_BOOKED` → `MEETING_BOOKED`."""
    return (label or "").strip().upper().removeprefix(_LABEL_PREFIX)


def activity_kind_for_webhook(webhook_event: str) -> ActivityKind:
    """PlusVibe `webhook_event` name → activity kind (opens come from polling as OPENED)."""
    name = webhook_event.strip().upper()
    if name == "EMAIL_SENT":
        return ActivityKind.SENT
    if name in {"FIRST_EMAIL_REPLIES", "ALL_EMAIL_REPLIES", "ALL_POSITIVE_REPLIES"}:
        return ActivityKind.REPLIED
    if name == "BOUNCED_EMAIL":
        return ActivityKind.BOUNCED
    if name in {"EMAIL_OPENED", "OPENED"}:
        return ActivityKind.OPENED
    if name.startswith(_LABEL_PREFIX):
        return ActivityKind.LABELLED
    return ActivityKind.OTHER


_ACTIVITY_TARGET: dict[ActivityKind, tuple[LeadStatus, TransitionReason]] = {
    ActivityKind.SENT: (LeadStatus.EMAIL_SENT, TransitionReason.EMAIL_SENT),
    ActivityKind.OPENED: (LeadStatus.OPENED, TransitionReason.EMAIL_OPENED),
    ActivityKind.REPLIED: (LeadStatus.REPLIED, TransitionReason.EMAIL_REPLIED),
    ActivityKind.BOUNCED: (LeadStatus.BOUNCED, TransitionReason.EMAIL_BOUNCED),
}


def email_activity(
    current: LeadStatus | None,
    activity: EmailActivity,
    *,
    converting_labels: Collection[str] = DEFAULT_CONVERTING_LABELS,
) -> TransitionDecision:
    """Webhook-driven move: only forward by rank. Enrichment always applies (apply_effect=True)."""
    if activity.kind is ActivityKind.LABELLED:
        converting = {normalise_label(label) for label in converting_labels}
        if normalise_label(activity.label) not in converting:
            return _keep(current, TransitionReason.ENRICHMENT_ONLY, ACTOR_PLUSVIBE)
        target, reason = LeadStatus.CONVERTED, TransitionReason.MARKED_CONVERTED
    elif activity.kind in _ACTIVITY_TARGET:
        target, reason = _ACTIVITY_TARGET[activity.kind]
    else:
        return _keep(current, TransitionReason.ENRICHMENT_ONLY, ACTOR_PLUSVIBE)
    if rank(target) <= rank(current):
        return _keep(current, TransitionReason.NOT_FORWARD, ACTOR_PLUSVIBE)
    return TransitionDecision(current, target, reason, ACTOR_PLUSVIBE)
