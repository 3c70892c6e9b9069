"""PlusVibe webhook payloads → EmailActivityReceived fields, and the redelivery dedupe key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from unibox.domain.webhooks import classify, dedupe_key


def payload(event: str, **extra: object) -> dict[str, object]:
    return {"webhook_event": event, "email": "Ana@Example.test", "campaign_id": "camp1", "lead_id": "pv-lead-1",
            **extra}


@pytest.mark.parametrize(
    ("event", "activity"),
    [
        ("EMAIL_SENT", "sent"),
        ("FIRST_EMAIL_REPLIES", "replied"),
        ("ALL_EMAIL_REPLIES", "replied"),
        ("ALL_POSITIVE_REPLIES", "replied"),
        ("BOUNCED_EMAIL", "bounced"),
        ("LEAD_MARKED_AS_INTERESTED", "label_changed"),
        ("LEAD_MARKED_AS_QC_INTERESTED", "label_changed"),
        ("SYSTEM_ALERT", "system_alert"),
        ("SOMETHING_NEW", "other"),
    ],
)
def test_each_event_type_maps_to_its_activity(event: str, activity: str) -> None:
    result = classify(payload(event))
    assert result.activity == activity
    assert result.webhook_event == event
    assert result.email == "ana@example.test"
    assert result.campaign_id == "camp1"


def test_a_payload_without_an_event_name_is_kept_as_other() -> None:
    result = classify({"email": "x@example.test"})
    assert (result.activity, result.webhook_event) == ("other", "UNKNOWN")


def test_reply_carries_subject_label_sentiment_and_reply_time() -> None:
    result = classify(payload("ALL_EMAIL_REPLIES", subject="Re: Your site", label="INTERESTED", sentiment="POSITIVE",
                              replied_date="2026-11-27T10:00:00Z"))
    assert (result.subject, result.label, result.sentiment) == ("Re: Your site", "INTERESTED", "POSITIVE")
    assert result.observed_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_bounce_carries_whether_the_campaign_was_paused() -> None:
    assert classify(payload("BOUNCED_EMAIL", is_camp_paused=True)).is_camp_paused is True
    assert classify(payload("BOUNCED_EMAIL", is_camp_paused=False)).is_camp_paused is False
    assert classify(payload("BOUNCED_EMAIL")).is_camp_paused is False


def test_label_change_takes_the_label_from_the_event_name_when_the_field_is_empty() -> None:
    result = classify(payload("LEAD_MARKED_AS_MEETING_BOOKED", label=None, sentiment="POSITIVE",
                              last_lead_reply_subject="Re: audit"))
    assert (result.label, result.sentiment, result.subject) == ("MEETING_BOOKED", "POSITIVE", "Re: audit")


def test_campaign_auto_paused_alert_is_a_system_alert_with_the_alert_name() -> None:
    result = classify({"webhook_event": "SYSTEM_ALERT", "alert": "CAMPAIGN_AUTO_PAUSED", "campaign_id": "camp1"})
    assert (result.activity, result.alert, result.is_camp_paused) == ("system_alert", "CAMPAIGN_AUTO_PAUSED", True)
    assert result.email is None


def test_a_data_wrapped_payload_is_unwrapped() -> None:
    result = classify({"data": payload("EMAIL_SENT", subject="Hello")})
    assert (result.activity, result.subject) == ("sent", "Hello")


def test_redelivered_payload_has_the_same_key_whatever_the_key_order() -> None:
    first = payload("EMAIL_SENT", subject="Hello", step=1)
    again = dict(reversed(list(first.items())))
    assert dedupe_key(first) == dedupe_key(again)


def test_different_events_of_one_lead_have_different_keys() -> None:
    keys = {dedupe_key(payload(e)) for e in ("EMAIL_SENT", "ALL_EMAIL_REPLIES", "FIRST_EMAIL_REPLIES")}
    keys.add(dedupe_key(payload("EMAIL_SENT", step=2)))
    assert len(keys) == 4
