"""The golden corpus (issue 17, item 4): one frozen Kafka record of every event type, version and variant ever
emitted (contracts/tests/golden/, written once by golden_generate.py), decoded by today's contracts and by every
consumer registered today. A contract change that would make a consumer dead-letter, or silently lose part of,
a record a producer really wrote fails here, including changes the schema-snapshot diff cannot see (a tightened
pattern or bound, a renamed optional field the decoder now ignores).

No broker and no database: records are decoded from the files, the services' consumers are built in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import golden_generate
import jsonschema
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from golden_consumers import consumer_record, consumers_of, example_subscriber, replay, service_names
from golden_corpus import (
    SCHEMA_DIR,
    fixture_paths,
    load,
    load_all,
    lost_values,
    unfilled_optional_fields,
    versions_that_exist,
)

from contracts.envelope import Envelope
from contracts.registry import EVENT_MODELS
from contracts.topics import LEAD_UPSERTED, TOPIC_BY_EVENT_TYPE, TOPIC_BY_NAME
from servicekit.messaging.events import decode, encode

PATHS = fixture_paths()
GENERATE = ".venv/bin/python contracts/tests/golden_generate.py"


def _stem(path: Path) -> str:
    return path.stem


# --- the corpus is complete ---------------------------------------------------------------------------------

def test_every_file_of_the_corpus_is_a_named_record() -> None:
    assert PATHS, "the golden corpus is empty"
    for path in PATHS:
        load(path)  # raises on a misnamed or misshapen file


def test_every_event_type_and_version_has_a_fixture() -> None:
    present = {(record.event_type, record.version) for record in load_all()}
    required = {(event_type, version) for event_type, versions in versions_that_exist().items() for version in versions}
    missing = [f"{event_type}.v{version}" for event_type, version in sorted(required - present)]
    assert missing == [], f"no golden record of {missing}: add builders to golden_samples.py and run {GENERATE}"


def test_every_optional_field_is_filled_in_some_fixture() -> None:
    envelopes = [record.envelope_json for record in load_all()]
    # The envelope is decoded alike for every type (a webhook's event has no cause), so across the corpus...
    unfilled = unfilled_optional_fields(Envelope, envelopes, "Envelope")
    # ...and each body across the records of its type.
    for event_type, model in EVENT_MODELS.items():
        bodies = [envelope["data"] for envelope in envelopes if envelope["event_type"] == event_type]
        unfilled += unfilled_optional_fields(model, bodies, event_type)
    assert unfilled == [], (f"no golden record fills {unfilled}: add a variant that does to golden_samples.py and "
                            f"run {GENERATE}")


def test_the_generator_has_nothing_left_to_write() -> None:
    assert [item.stem for item in golden_generate.pending()] == [], f"run {GENERATE} and commit the new files"


def test_the_generator_writes_new_fixtures_and_never_overwrites_one(tmp_path: Path) -> None:
    frozen = tmp_path / "AuditRequested.v1.minimal.json"
    frozen.write_text("frozen\n")
    written = golden_generate.write_new(tmp_path)
    assert frozen.read_text() == "frozen\n"
    assert frozen not in written and len(written) == len(golden_generate.planned()) - 1
    assert golden_generate.write_new(tmp_path) == []
    for path in written:
        decode(load(path).value_bytes)


# --- every record decodes, on its topic, without losing anything ----------------------------------------------

@pytest.mark.parametrize("path", PATHS, ids=_stem)
def test_the_record_decodes_on_its_topic_and_round_trips(path: Path) -> None:
    record = load(path)
    spec = TOPIC_BY_NAME.get(record.topic)
    assert spec is not None, f"topic {record.topic} is gone from contracts.topics; its records are still on it"
    assert TOPIC_BY_EVENT_TYPE.get(record.event_type) == spec, f"{record.event_type} moved off {record.topic}"

    decoded = decode(record.value_bytes, expected_types=frozenset({spec.event_type}))

    envelope, event = decoded.envelope, decoded.event
    assert (envelope.event_type, envelope.event_version) == (record.event_type, record.version)
    assert isinstance(event, EVENT_MODELS[record.event_type])
    sent = record.envelope_json
    assert lost_values(sent, json.loads(encode(envelope))) == []
    assert lost_values(sent["data"], event.model_dump(mode="json"), "$.data") == []
    assert type(event).model_validate(event.model_dump(mode="json")) == event


# --- every consumer registered today accepts the records of its topic -----------------------------------------

@pytest.mark.parametrize("service", service_names())
async def test_every_consumer_of_the_service_takes_every_record_of_its_topic(service: str, tmp_path: Path) -> None:
    records = load_all()
    problems: list[str] = []
    async with consumers_of(service, tmp_path) as consumers:
        for consumer in consumers:
            expected = consumer.expected_types
            if expected is not None and consumer.topic.event_type not in expected:
                problems.append(f"{consumer.group} does not expect {consumer.topic.event_type}, its topic's type")
            on_topic = [record for record in records if record.topic == consumer.topic.name]
            if not on_topic:
                problems.append(f"{consumer.group}: no golden record on {consumer.topic.name}")
                continue
            # The consumer's own decoding path, with its expected types; only its handler is a recorder.
            result = await replay(consumer, on_topic, tmp_path)
            problems += [f"{consumer.group} dead-letters {parked}" for parked in result.parked]
            handled = [str(item.envelope.event_id) for item in result.handled]
            sent = [record.envelope_json["event_id"] for record in on_topic]
            if not result.parked and handled != sent:
                problems.append(f"{consumer.group} handled {handled}, not the records {sent}")
    assert problems == []


# --- subscribers outside the repository --------------------------------------------------------------------------

def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("path", PATHS, ids=_stem)
def test_a_subscriber_outside_the_repository_accepts_the_record(path: Path) -> None:
    """What another team's consumer relies on: the CloudEvents headers (any SDK) and the published JSON Schemas
    of today (contracts/schemas), with no code of this repository."""
    record = load(path)
    message = KafkaMessage(headers=dict(record.kafka_headers), key=record.key, value=record.value_bytes)
    cloud_event = from_binary(message, JSONFormat(), CloudEvent)
    envelope: dict[str, Any] = record.envelope_json
    assert cloud_event.get_id() == envelope["event_id"]
    assert cloud_event.get_type() == f"io.outreach.{envelope['event_type']}"
    current = EVENT_MODELS[record.event_type].EVENT_VERSION
    problems = [e.message for e in _validator("Envelope.v1").iter_errors(envelope)]
    problems += [e.message for e in _validator(f"{record.event_type}.v{current}").iter_errors(envelope["data"])]
    assert problems == []


def test_the_example_lead_subscriber_takes_every_lead_snapshot(tmp_path: Path) -> None:
    example = example_subscriber()
    validators = example.Validators.load(SCHEMA_DIR)
    directory = example.LeadDirectory(str(tmp_path / "leads.sqlite"))
    records = [record for record in load_all() if record.topic == LEAD_UPSERTED.name]
    assert records
    try:
        for offset, record in enumerate(records):
            outcome = example.handle(consumer_record(record, offset), validators, directory)
            # `stale`: an older snapshot of a lead after a newer one, which the subscriber rightly drops.
            assert outcome["decision"] in {"applied", "stale"}, (record.path.name, outcome)
    finally:
        directory.db.close()
