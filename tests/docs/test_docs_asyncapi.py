"""docs/asyncapi.json is a valid AsyncAPI 3.0 document (the official JSON Schema, bindings included), states the
consumer groups the services really register, and its header schemas accept the headers the kit really writes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from contracts.envelope import Envelope
from contracts.topics import ALL_TOPICS
from outreach_ops.consumer_groups import consumer_groups
from servicekit.messaging.events import headers_for
from servicekit.process.tracing import inject_traceparent

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT: dict[str, Any] = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
SPEC = json.loads((ROOT / "tests" / "docs" / "schemas" / "asyncapi-3.0.0.json").read_text())


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(SPEC)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(DOCUMENT)]
    assert errors == []


def test_the_validator_refuses_a_broken_binding() -> None:
    """The check above can fail: a group id that is not a schema is refused by the Kafka binding's schema."""
    broken = json.loads(json.dumps(DOCUMENT))
    receive = next(op for op in broken["operations"].values() if op["action"] == "receive")
    receive["bindings"]["kafka"]["groupId"] = 7
    assert list(jsonschema.Draft7Validator(SPEC).iter_errors(broken))


def test_every_registered_consumer_group_is_a_receive_operation_and_nothing_else_is() -> None:
    registered = {(g.group, g.topic) for groups in consumer_groups(ROOT).values() for g in groups}
    documented = set()
    for op in DOCUMENT["operations"].values():
        if op["action"] == "receive":
            channel = DOCUMENT["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]
            documented.add((op["bindings"]["kafka"]["groupId"]["const"], channel["address"]))
    assert documented == registered
    assert len(registered) >= 10


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_the_headers_schema_accepts_what_the_kit_writes(topic: Any) -> None:
    envelope = Envelope(event_id=uuid.uuid4(), event_type=topic.event_type, event_version=1,
                        occurred_at=datetime.now(UTC), producer=topic.producer, lead_id=uuid.uuid4(),
                        workspace_id="ws-1", correlation_id=uuid.uuid4(), causation_id=uuid.uuid4(), data={})
    current = NonRecordingSpan(SpanContext(trace_id=uuid.uuid4().int >> 1, span_id=uuid.uuid4().int >> 65,
                                           is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    with trace.use_span(current):
        headers = headers_for(envelope)
        inject_traceparent(headers)
    assert "traceparent" in headers
    schema = DOCUMENT["components"]["messages"][topic.event_type]["headers"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    assert [e.message for e in validator.iter_errors(headers)] == []
    assert set(headers) <= set(schema["properties"]), "a header the document does not describe"
    wrong = {**headers, "ce_type": "io.outreach.Other"}
    assert list(validator.iter_errors(wrong))
