"""Which campaigns a push may enrol leads into (leads.domain.campaign_intake), and which PlusVibe alert the campaign
picker shows (leads.handlers.plusvibe_alerts.campaign_alerts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leads.adapters.orm import PlusVibeAlertRow
from leads.domain.campaign_intake import intake
from leads.handlers.plusvibe_alerts import campaign_alerts

# The judge, written from PlusVibe's documented statuses rather than from the rule: sending happens only in these.
SENDS_NOW_OR_AT_LAUNCH = {"ACTIVE", "INACTIVE", "DRAFT"}
KNOWN = ["ACTIVE", "PAUSED", "COMPLETED", "ARCHIVED", "INACTIVE", "DRAFT"]


def _cased(text: str) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", " ", "\t"]), st.sampled_from([str.upper, str.lower, str.title]),
                     st.sampled_from(["", " "])).map(lambda t: f"{t[0]}{t[1](text)}{t[2]}")


STATUSES = st.one_of(st.sampled_from(KNOWN).flatmap(_cased), st.text(max_size=12))
TYPES = st.one_of(st.sampled_from(["", "parent", "PARENT", "subseq", "SUBSEQ", "subsequence"]), st.text(max_size=8))


@given(STATUSES, TYPES, st.text(max_size=20))
def test_only_running_or_unlaunched_parent_campaigns_take_leads(status: str, kind: str, name: str) -> None:
    verdict = intake(status, kind, name)
    subsequence = kind.strip().upper() in {"SUBSEQ", "SUBSEQUENCE"}
    assert verdict.ok == (status.strip().upper() in SENDS_NOW_OR_AT_LAUNCH and not subsequence)
    if not verdict.ok:
        assert verdict.reason and verdict.reason.startswith("campaign_") and verdict.message
        assert (name in verdict.message) if name else "The campaign" in verdict.message


def test_each_refusal_names_its_reason() -> None:
    assert [intake(s).reason for s in ("PAUSED", "COMPLETED", "ARCHIVED", "RUNNING", "")] == [
        "campaign_paused", "campaign_completed", "campaign_archived", "campaign_status_unknown",
        "campaign_status_unknown"]
    assert intake("ACTIVE", "subseq").reason == "campaign_subsequence"


def _alert(name: str, campaign: str | None, minutes: int) -> PlusVibeAlertRow:
    return PlusVibeAlertRow(id=uuid.uuid4(), workspace="default", alert=name, campaign_id=campaign,
                            observed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes), raw_payload={})


def test_the_picker_shows_each_campaigns_newest_alert_and_an_auto_pause_only_while_paused() -> None:
    newest_first = [_alert("EMAIL_ACCOUNT_DISCONNECTED", "c1", 9), _alert("CAMPAIGN_AUTO_PAUSED", "c1", 5),
                    _alert("CAMPAIGN_AUTO_PAUSED", "c2", 4), _alert("CAMPAIGN_AUTO_PAUSED", "c3", 3),
                    _alert("WEBHOOK_DISABLED", None, 2)]
    shown = campaign_alerts(newest_first, {"c1": "ACTIVE", "c2": "paused", "c3": "ACTIVE"})
    assert {c: a.alert for c, a in shown.items()} == {"c1": "EMAIL_ACCOUNT_DISCONNECTED", "c2": "CAMPAIGN_AUTO_PAUSED"}
