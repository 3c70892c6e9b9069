import json
import uuid

import pytest
from kit_factories import audit_requested, record_of

from servicekit.messaging.events import PoisonMessage, decode, decode_record, encode, headers_for


def test_round_trips_an_envelope_with_its_typed_body() -> None:
    env = audit_requested("shop.test")
    decoded = decode(encode(env))
    assert decoded.envelope == env
    assert decoded.event.domain == "shop.test"  # type: ignore[attr-defined]
    assert headers_for(env)["event_type"] == "AuditRequested"
    assert headers_for(env)["lead_id"] == str(env.lead_id)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"\xff\xfe not json", "not JSON"),
        (b"[1,2,3]", "not a JSON object"),
        (b'{"event_id": "nope"}', "invalid envelope"),
    ],
)
def test_refuses_undecodable_records_as_poison(value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        decode(value)


def test_refuses_unknown_event_type_and_schema_invalid_body() -> None:
    env = json.loads(encode(audit_requested()))
    unknown = {**env, "event_type": "SomethingNew"}
    with pytest.raises(PoisonMessage, match="unknown event_type"):
        decode(json.dumps(unknown).encode())
    broken = {**env, "data": {**env["data"], "audit_run_id": "not-a-uuid"}}
    with pytest.raises(PoisonMessage, match="invalid AuditRequested body"):
        decode(json.dumps(broken).encode())


def test_refuses_an_event_type_that_does_not_belong_on_the_topic() -> None:
    with pytest.raises(PoisonMessage, match="not expected"):
        decode(encode(audit_requested()), expected_types=frozenset({"AuditCompleted"}))


def test_ignores_unknown_fields_added_by_a_newer_producer_of_the_same_major() -> None:
    env = json.loads(encode(audit_requested()))
    env["data"]["added_later"] = {"x": 1}
    env["new_envelope_field"] = True
    decoded = decode(json.dumps(env).encode())
    assert decoded.envelope.event_id == uuid.UUID(env["event_id"])


def test_refuses_a_future_major_version_even_when_its_body_validates() -> None:
    env = json.loads(encode(audit_requested()))
    env["event_version"] = 2
    with pytest.raises(PoisonMessage, match="future major version"):
        decode(json.dumps(env).encode())


def test_refuses_a_record_over_the_size_limit() -> None:
    from contracts.envelope import MAX_RECORD_BYTES

    env = json.loads(encode(audit_requested()))
    env["data"]["requested_by"] = "x" * MAX_RECORD_BYTES
    with pytest.raises(PoisonMessage, match="over the 1,000,000-byte limit"):
        decode(json.dumps(env).encode())


def test_a_record_must_be_keyed_by_its_lead_and_its_headers_must_agree_with_its_envelope() -> None:
    env = audit_requested()
    key, value, headers = record_of(env)
    assert decode_record(value, key, headers).envelope == env
    assert decode_record(value, key, []).envelope == env  # headers are optional
    assert decode_record(value, key, [("event_id", str(env.event_id).upper().encode())]).envelope == env
    with pytest.raises(PoisonMessage, match="no key"):
        decode_record(value, None, headers)
    with pytest.raises(PoisonMessage, match="the key must be its lead id"):
        decode_record(value, str(uuid.uuid4()).encode(), headers)
    for name, bad in (("event_id", str(uuid.uuid4()).encode()), ("ce_type", b"io.outreach.AuditCompleted"),
                      ("event_type", b"\xff\xfe"), ("event_version", b"2"), ("lead_id", b"not-a-uuid")):
        with pytest.raises(PoisonMessage, match=f"header {name}="):
            decode_record(value, key, [*headers, (name, bad)])
    unrelated = [*headers, ("traceparent", b"\xff"), ("x-anything", b"1")]
    assert decode_record(value, key, unrelated).envelope == env


def test_a_new_envelope_is_what_validation_would_have_built() -> None:
    from datetime import UTC, datetime

    from contracts.envelope import Envelope
    from servicekit.messaging.events import new_envelope

    cause = audit_requested("cause.test")
    body = decode(encode(audit_requested("shop.test"))).event
    env = new_envelope(body, causation=cause, workspace_id="ws-1", occurred_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert Envelope.model_validate(env.model_dump()) == env  # the constructed envelope passes its own schema
    assert decode(encode(env)).envelope == env
    assert env.correlation_id == cause.event_id and env.causation_id == cause.event_id
    assert env.lead_id is not None and env.lead_id == body.lead_id  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="timezone-aware"):
        new_envelope(decode(encode(cause)).event, occurred_at=datetime(2026, 1, 2))


def test_the_cause_is_the_causing_envelope_or_its_id_not_both() -> None:
    from servicekit.messaging.events import new_envelope

    cause = audit_requested("cause.test")
    body = decode(encode(audit_requested("effect.test"))).event
    by_envelope = new_envelope(body, causation=cause)
    assert by_envelope.causation_id == cause.event_id
    assert by_envelope.correlation_id == (cause.correlation_id or cause.event_id)
    kept_id = uuid.uuid4()
    by_id = new_envelope(body, causation_id=kept_id, correlation_id=cause.correlation_id)
    assert (by_id.causation_id, by_id.correlation_id) == (kept_id, cause.correlation_id)
    with pytest.raises(ValueError, match="not both"):
        new_envelope(body, causation=cause, causation_id=kept_id)
