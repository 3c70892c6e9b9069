"""The status machine, table-driven: (current status, event) → new status or kept, and why."""

from __future__ import annotations

import pytest

from contracts.status import DROPDOWN_STATUSES, LeadStatus
from leads.domain.transitions import (
    ActivityKind,
    EmailActivity,
    RunRef,
    TransitionReason,
    activity_kind_for_webhook,
    audit_completed,
    audit_failed,
    audit_requested,
    email_activity,
    legacy_normalisation,
    operator_change,
    writeback_completed,
)

S = LeadStatus
ALL: list[LeadStatus | None] = [None, *LeadStatus]
NEWEST = RunRef("run-2", 2)
STALE = RunRef("run-1", 1)
ENGAGED = [S.EMAIL_SENT, S.OPENED, S.REPLIED, S.RETARGETED, S.CONVERTED, S.SENT_LEGACY]

# --- operator -------------------------------------------------------------------------------------


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("requested", DROPDOWN_STATUSES)
def test_operator_change_always_applies(current: LeadStatus | None, requested: LeadStatus) -> None:
    decision = operator_change(current, requested, actor="operator:ops@agency.test")
    if current == requested:
        assert decision.to_status is None and decision.reason is TransitionReason.UNCHANGED
    else:
        assert decision.to_status is requested and decision.reason is TransitionReason.OPERATOR_CHANGE
    assert decision.from_status == current and decision.actor == "operator:ops@agency.test"


def test_operator_cannot_choose_legacy_sent() -> None:
    decision = operator_change(S.NEW, S.SENT_LEGACY, actor="operator:x")
    assert decision.to_status is None and not decision.apply_effect
    assert decision.reason is TransitionReason.LEGACY_NOT_SELECTABLE


# --- legacy ---------------------------------------------------------------------------------------


def test_legacy_normalisation_moves_sent_to_email_sent() -> None:
    decision = legacy_normalisation(S.SENT_LEGACY, actor="migration")
    assert (decision.from_status, decision.to_status, decision.reason) == (
        S.SENT_LEGACY, S.EMAIL_SENT, TransitionReason.LEGACY_NORMALISED
    )


@pytest.mark.parametrize("current", [s for s in ALL if s is not S.SENT_LEGACY])
def test_legacy_normalisation_leaves_other_statuses(current: LeadStatus | None) -> None:
    assert legacy_normalisation(current, actor="migration").to_status is None


# --- audit requested ------------------------------------------------------------------------------

AUDIT_REQUESTED_TABLE = [
    (None, S.AUDIT_QUEUED),
    (S.NEW, S.AUDIT_QUEUED),
    (S.AUDIT_QUEUED, None),
    (S.AUDIT_COMPLETE, S.AUDIT_QUEUED),
    (S.EMAIL_GENERATED, S.AUDIT_QUEUED),
    (S.BOUNCED, S.AUDIT_QUEUED),
    *[(s, None) for s in ENGAGED],
]


@pytest.mark.parametrize(("current", "expected"), AUDIT_REQUESTED_TABLE)
def test_audit_requested(current: LeadStatus | None, expected: LeadStatus | None) -> None:
    decision = audit_requested(current, actor="operator:x")
    assert decision.to_status == expected and decision.apply_effect


# --- audit completed ------------------------------------------------------------------------------

AUDIT_COMPLETED_TABLE = [
    (None, S.AUDIT_COMPLETE, TransitionReason.AUDIT_COMPLETED),
    (S.NEW, S.AUDIT_COMPLETE, TransitionReason.AUDIT_COMPLETED),
    (S.AUDIT_QUEUED, S.AUDIT_COMPLETE, TransitionReason.AUDIT_COMPLETED),
    (S.AUDIT_COMPLETE, None, TransitionReason.UNCHANGED),
    (S.EMAIL_GENERATED, None, TransitionReason.KEEPS_STATUS),  # writeback applied first
    (S.BOUNCED, None, TransitionReason.KEEPS_STATUS),
    *[(s, None, TransitionReason.KEEPS_STATUS) for s in ENGAGED],
]


@pytest.mark.parametrize(("current", "expected", "reason"), AUDIT_COMPLETED_TABLE)
def test_audit_completed_for_newest_run(
    current: LeadStatus | None, expected: LeadStatus | None, reason: TransitionReason
) -> None:
    decision = audit_completed(current, run=NEWEST, newest=NEWEST)
    assert (decision.to_status, decision.reason, decision.apply_effect) == (expected, reason, True)


@pytest.mark.parametrize("current", ALL)
def test_audit_completed_for_stale_run_changes_nothing(current: LeadStatus | None) -> None:
    decision = audit_completed(current, run=STALE, newest=NEWEST)
    assert decision.to_status is None and not decision.apply_effect
    assert decision.reason is TransitionReason.STALE_RUN


def test_run_counts_as_newest_when_lead_has_no_run_or_a_higher_sequence() -> None:
    assert audit_completed(S.AUDIT_QUEUED, run=STALE, newest=None).to_status is S.AUDIT_COMPLETE
    assert audit_completed(S.AUDIT_QUEUED, run=RunRef("run-3", 3), newest=NEWEST).to_status is S.AUDIT_COMPLETE
    same_sequence_other_id = audit_completed(S.AUDIT_QUEUED, run=RunRef("run-x", 2), newest=NEWEST)
    assert same_sequence_other_id.reason is TransitionReason.STALE_RUN


@pytest.mark.parametrize(("run", "applies"), [(NEWEST, True), (STALE, False)])
def test_audit_failed_never_changes_status(run: RunRef, applies: bool) -> None:
    decision = audit_failed(S.AUDIT_QUEUED, run=run, newest=NEWEST)
    assert decision.to_status is None and decision.apply_effect is applies


# --- writeback completed --------------------------------------------------------------------------

WRITEBACK_TABLE = [
    (None, S.EMAIL_GENERATED),
    (S.NEW, S.EMAIL_GENERATED),
    (S.AUDIT_QUEUED, S.EMAIL_GENERATED),  # AuditCompleted not yet consumed (other topic)
    (S.AUDIT_COMPLETE, S.EMAIL_GENERATED),
    (S.EMAIL_GENERATED, None),
    (S.BOUNCED, None),
    *[(s, None) for s in ENGAGED],
]


@pytest.mark.parametrize(("current", "expected"), WRITEBACK_TABLE)
def test_writeback_completed_for_newest_run(current: LeadStatus | None, expected: LeadStatus | None) -> None:
    decision = writeback_completed(current, run=NEWEST, newest=NEWEST)
    assert decision.to_status == expected
    assert decision.apply_effect  # variables are stored even when the status is kept


@pytest.mark.parametrize("current", ALL)
def test_writeback_for_stale_run_changes_nothing(current: LeadStatus | None) -> None:
    decision = writeback_completed(current, run=STALE, newest=NEWEST)
    assert decision.to_status is None and not decision.apply_effect


# --- webhook activity -----------------------------------------------------------------------------

PRE_SEND = [None, S.NEW, S.AUDIT_QUEUED, S.AUDIT_COMPLETE, S.EMAIL_GENERATED, S.RETARGETED]
ACTIVITY_TABLE: list[tuple[LeadStatus | None, ActivityKind, LeadStatus | None]] = [
    *[(s, ActivityKind.SENT, S.EMAIL_SENT) for s in PRE_SEND],
    *[(s, ActivityKind.SENT, None) for s in (S.EMAIL_SENT, S.SENT_LEGACY, S.OPENED, S.BOUNCED, S.REPLIED, S.CONVERTED)],
    *[(s, ActivityKind.OPENED, S.OPENED) for s in (*PRE_SEND, S.EMAIL_SENT, S.SENT_LEGACY)],
    *[(s, ActivityKind.OPENED, None) for s in (S.OPENED, S.BOUNCED, S.REPLIED, S.CONVERTED)],
    *[(s, ActivityKind.BOUNCED, S.BOUNCED) for s in (*PRE_SEND, S.EMAIL_SENT, S.SENT_LEGACY, S.OPENED)],
    *[(s, ActivityKind.BOUNCED, None) for s in (S.BOUNCED, S.REPLIED, S.CONVERTED)],
    *[(s, ActivityKind.REPLIED, S.REPLIED) for s in (*PRE_SEND, S.EMAIL_SENT, S.OPENED, S.BOUNCED)],
    *[(s, ActivityKind.REPLIED, None) for s in (S.REPLIED, S.CONVERTED)],
    *[(s, ActivityKind.OTHER, None) for s in ALL],
]


@pytest.mark.parametrize(("current", "kind", "expected"), ACTIVITY_TABLE)
def test_webhook_activity_moves_only_forward(
    current: LeadStatus | None, kind: ActivityKind, expected: LeadStatus | None
) -> None:
    decision = email_activity(current, EmailActivity(kind))
    assert decision.to_status == expected
    assert decision.apply_effect  # enrichment is always recorded
    assert decision.actor == "plusvibe"


@pytest.mark.parametrize("label", ["MEETING_BOOKED", "LEAD_MARKED_AS_MEETING_BOOKED", "closed", "LEAD_MARKED_AS_CLOSED"])
@pytest.mark.parametrize("current", [S.EMAIL_SENT, S.OPENED, S.REPLIED, S.BOUNCED])
def test_converting_label_marks_lead_converted(label: str, current: LeadStatus) -> None:
    decision = email_activity(current, EmailActivity(ActivityKind.LABELLED, label))
    assert decision.to_status is S.CONVERTED and decision.reason is TransitionReason.MARKED_CONVERTED


@pytest.mark.parametrize("label", ["INTERESTED", "NOT_INTERESTED", "OUT_OF_OFFICE", "MEETING_COMPLETED", None])
def test_other_labels_are_enrichment_only(label: str | None) -> None:
    decision = email_activity(S.REPLIED, EmailActivity(ActivityKind.LABELLED, label))
    assert decision.to_status is None and decision.reason is TransitionReason.ENRICHMENT_ONLY


def test_converting_labels_are_configurable() -> None:
    activity = EmailActivity(ActivityKind.LABELLED, "LEAD_MARKED_AS_INTERESTED")
    assert email_activity(S.REPLIED, activity, converting_labels={"INTERESTED"}).to_status is S.CONVERTED
    booked = EmailActivity(ActivityKind.LABELLED, "MEETING_BOOKED")
    assert email_activity(S.REPLIED, booked, converting_labels={"CLOSED"}).to_status is None


def test_converted_lead_is_never_moved_by_a_late_label_or_event() -> None:
    for activity in (EmailActivity(ActivityKind.LABELLED, "CLOSED"), EmailActivity(ActivityKind.REPLIED)):
        decision = email_activity(S.CONVERTED, activity)
        assert decision.to_status is None and decision.reason is TransitionReason.NOT_FORWARD


def test_duplicate_event_is_a_no_op() -> None:
    first = email_activity(S.EMAIL_SENT, EmailActivity(ActivityKind.REPLIED))
    assert first.to_status is S.REPLIED
    assert email_activity(S.REPLIED, EmailActivity(ActivityKind.REPLIED)).to_status is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("EMAIL_SENT", ActivityKind.SENT),
        ("FIRST_EMAIL_REPLIES", ActivityKind.REPLIED),
        ("ALL_EMAIL_REPLIES", ActivityKind.REPLIED),
        ("all_positive_replies", ActivityKind.REPLIED),
        ("BOUNCED_EMAIL", ActivityKind.BOUNCED),
        ("EMAIL_OPENED", ActivityKind.OPENED),
        ("LEAD_MARKED_AS_INTERESTED", ActivityKind.LABELLED),
        ("SYSTEM_ALERT", ActivityKind.OTHER),
    ],
)
def test_webhook_event_names_map_to_activity_kinds(name: str, kind: ActivityKind) -> None:
    assert activity_kind_for_webhook(name) is kind
