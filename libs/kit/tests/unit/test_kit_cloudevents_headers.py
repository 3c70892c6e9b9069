"""Every published record is a CloudEvent in the Kafka binding's binary content mode, judged by the CloudEvents
SDK's own `from_binary` (not by the code that writes the headers), over generated envelopes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Envelope
from contracts.registry import EVENT_MODELS
from servicekit.messaging.events import encode, headers_for, kafka_headers

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_moments = st.builds(lambda dt, tz: dt.replace(tzinfo=UTC).astimezone(tz),
                     st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), _offsets)
_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    event_type = draw(st.sampled_from(sorted(EVENT_MODELS)))
    return Envelope(
        event_id=draw(st.uuids()),
        event_type=event_type,
        event_version=draw(st.integers(min_value=1, max_value=9)),
        occurred_at=draw(_moments),
        producer=draw(st.sampled_from(["leads", "audits", "writeback", "unibox"])),
        lead_id=draw(st.none() | st.uuids()),
        workspace_id=draw(st.none() | _text),
        correlation_id=draw(st.none() | st.uuids()),
        causation_id=draw(st.none() | st.uuids()),
        data=draw(st.dictionaries(_text, st.integers() | _text, max_size=4)),
    )


def _as_cloudevent(envelope: Envelope) -> CloudEvent:
    value = encode(envelope)
    headers = dict(kafka_headers(headers_for(envelope)))
    event = from_binary(KafkaMessage(headers=headers, key=None, value=value), JSONFormat(), CloudEvent)
    assert isinstance(event, CloudEvent)
    return event


@settings(max_examples=300, deadline=None)
@given(envelopes())
def test_the_sdk_reads_every_envelope_as_the_cloudevent_it_describes(envelope: Envelope) -> None:
    event = _as_cloudevent(envelope)
    assert event.get_specversion() == "1.0"
    assert event.get_id() == str(envelope.event_id)
    assert event.get_source() == f"/outreach/{envelope.producer}"
    assert event.get_type() == f"io.outreach.{envelope.event_type}"
    assert event.get_time() == envelope.occurred_at  # the same instant, whatever offset it was written with
    assert event.get_subject() == (str(envelope.lead_id) if envelope.lead_id else None)
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("workspaceid") == envelope.workspace_id
    # The data is the whole envelope, unchanged: subscribers that ignore CloudEvents see what they saw before.
    assert event.get_data() == json.loads(encode(envelope))


def test_the_envelope_headers_stay_beside_the_cloudevents_attributes() -> None:
    lead_id, cause = uuid.uuid4(), uuid.uuid4()
    envelope = Envelope(event_id=uuid.uuid4(), event_type="LeadUpserted", event_version=1,
                        occurred_at=datetime(2026, 12, 2, 21, 0, tzinfo=UTC), producer="leads", lead_id=lead_id,
                        causation_id=cause, data={})
    headers = headers_for(envelope)
    assert headers["event_type"] == "LeadUpserted" and headers["lead_id"] == str(lead_id)
    assert headers["causation_id"] == str(cause) and headers["event_version"] == "1"
    assert headers["ce_time"] == "2026-12-02T21:00:00Z"
    assert "ce_workspaceid" not in headers and "correlation_id" not in headers
