"""The timeline's rules on generated histories: newest first, nothing left out and nothing doubled (one entry per
status change, push and webhook, one or two per audit run, one per writeback or generation however many steps it
had)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leads.domain.timeline import SNIPPET_CHARS, timeline

T0 = datetime(2026, 12, 1, tzinfo=UTC)
moments = st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s))


@dataclass(frozen=True)
class Change:
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True)
class Run:
    domain: str
    status: str
    requested_at: datetime
    requested_by: str
    completed_at: datetime | None
    grade: str | None
    score: int | None
    error_message: str | None


@dataclass(frozen=True)
class Email:
    type: str
    step: int
    tone: str | None
    writeback_status: str
    created_at: datetime


@dataclass(frozen=True)
class Push:
    campaign_id: str
    state: str
    pushed_at: datetime


@dataclass(frozen=True)
class Hook:
    activity: str
    webhook_event: str
    label: str | None
    subject: str | None
    observed_at: datetime
    raw_payload: dict[str, Any] = field(default_factory=dict)


changes = st.builds(Change, st.sampled_from([None, "new", "audit_queued"]), st.sampled_from(["opened", "replied"]),
                    st.just("operator:ops"), st.just("operator_change"), moments)
runs = st.builds(Run, st.just("shop.test"), st.sampled_from(["queued", "running", "completed", "failed"]), moments,
                 st.just("operator:ops"), st.one_of(st.none(), moments), st.sampled_from([None, "B"]),
                 st.sampled_from([None, 70]), st.sampled_from([None, "timeout"]))
emails = st.builds(Email, st.sampled_from(["preview", "writeback"]), st.integers(1, 3),
                   st.sampled_from([None, "direct"]), st.sampled_from(["stored", "delivered"]), moments)
pushes = st.builds(Push, st.sampled_from(["c1", "c2"]), st.sampled_from(["enrolled", "removed", "pending"]), moments)
hooks = st.builds(Hook, st.sampled_from(["sent", "opened", "replied", "bounced", "label_changed", "other"]),
                  st.sampled_from(["EMAIL_SENT", "ALL_EMAIL_REPLIES", "SOMETHING_NEW"]), st.sampled_from([None, "HOT"]),
                  st.one_of(st.none(), st.text(max_size=20)), moments,
                  st.dictionaries(st.sampled_from(["text_body", "bounce_msg", "x"]), st.text(max_size=300)))


@given(st.lists(changes, max_size=8), st.lists(runs, max_size=5), st.lists(emails, max_size=12),
       st.lists(pushes, max_size=3), st.lists(hooks, max_size=6))
def test_every_fact_appears_once_and_the_newest_comes_first(history: list[Change], audit_runs: list[Run],
                                                            mails: list[Email], ledger: list[Push],
                                                            webhooks: list[Hook]) -> None:
    entries = timeline(history, audit_runs, mails, ledger, webhooks)
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    kinds = [e.kind for e in entries]
    assert kinds.count("status") == len(history)
    assert kinds.count("push") + kinds.count("removed") == len(ledger)
    assert kinds.count("audit_requested") == len(audit_runs)
    finished = [r for r in audit_runs if r.completed_at is not None and r.status in ("completed", "failed")]
    assert kinds.count("audit_completed") + kinds.count("audit_failed") == len(finished)
    moments_made = {(m.type, m.created_at) for m in mails}
    assert kinds.count("preview") + kinds.count("writeback") == len(moments_made)
    replies = [w for w in webhooks if w.activity == "replied"]
    assert (kinds.count("reply"), kinds.count("webhook")) == (len(replies), len(webhooks) - len(replies))
    # Each webhook's payload is there as it came, and no detail outgrows a line.
    assert sorted(map(repr, (e.raw for e in entries if e.raw is not None))) == sorted(repr(w.raw_payload)
                                                                                      for w in webhooks)
    assert all(len(e.detail) <= SNIPPET_CHARS * 2 + 30 for e in entries if e.kind in ("reply", "webhook"))


def test_a_writeback_is_delivered_only_when_every_step_was() -> None:
    at = T0
    mixed = [Email("writeback", 1, None, "delivered", at), Email("writeback", 2, None, "stored", at)]
    [entry] = timeline([], [], mixed, [], [])
    assert (entry.title, entry.detail) == ("Copy stored (not delivered to PlusVibe)", "2 steps")
    [entry] = timeline([], [], [Email("writeback", 1, None, "delivered", at)], [], [])
    assert (entry.title, entry.detail) == ("Copy written back to PlusVibe", "1 step")


def test_a_reply_shows_its_subject_and_what_the_lead_wrote_as_plain_text() -> None:
    html = "<p>Sounds good,<br><b>call me</b> <script>x()</script></p>" + "word " * 60
    reply = Hook("replied", "ALL_EMAIL_REPLIES", None, "Re: your site", T0, {"last_lead_reply": html})
    [entry] = timeline([], [], [], [], [reply])
    assert (entry.kind, entry.title) == ("reply", "Reply received")
    assert entry.detail.startswith("“Re: your site” · Sounds good, call me x() word word")
    assert "<" not in entry.detail and entry.detail.endswith("…")
    assert entry.raw == {"last_lead_reply": html}
    label = Hook("label_changed", "LEAD_MARKED_AS_CLOSED", "CLOSED", None, T0)
    assert timeline([], [], [], [], [label])[0].title == "Labelled CLOSED in PlusVibe"


def test_a_change_that_kept_the_status_says_what_changed_not_a_move() -> None:
    kept = Change("new", "new", "plusvibe-sync", "synced from PlusVibe: campaign c-1", T0)
    moved = Change("new", "audit_queued", "operator:ada", "audit_requested", T0 + timedelta(seconds=1))
    titles = [e.title for e in timeline([kept, moved], [], [], [], [])]
    assert titles == ["Status new → audit_queued", "Synced from PlusVibe: campaign c-1"]
