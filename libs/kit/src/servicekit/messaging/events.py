"""Building, encoding and decoding envelopes with the explicit registry."""

from __future__ import annotations

import hashlib
import marshal
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from pydantic import ValidationError

from contracts.envelope import (
    CLOUDEVENTS_SOURCE_PREFIX,
    CLOUDEVENTS_SPECVERSION,
    CLOUDEVENTS_TYPE_PREFIX,
    HEADER_CAUSATION_ID,
    HEADER_CE_ID,
    HEADER_CE_SOURCE,
    HEADER_CE_SPECVERSION,
    HEADER_CE_SUBJECT,
    HEADER_CE_TIME,
    HEADER_CE_TYPE,
    HEADER_CE_WORKSPACE,
    HEADER_CONTENT_TYPE,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_EVENT_VERSION,
    HEADER_LEAD_ID,
    MAX_RECORD_BYTES,
    Envelope,
    EventData,
)
from contracts.registry import EVENT_MODELS


class PoisonMessage(Exception):
    """A record that can never be handled (undecodable, unknown type, schema-invalid). Goes to the DLQ."""


def new_envelope(
    data: EventData,
    *,
    lead_id: uuid.UUID | None = None,
    workspace_id: str | None = None,
    correlation_id: uuid.UUID | None = None,
    causation: Envelope | None = None,
    causation_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Wraps an event body. Correlation flows from the causing event unless given; lead_id defaults to the body's.
    The cause is the causing envelope or, when only its id was kept (a worker acting later on a stored request),
    `causation_id`; not both."""
    if causation is not None and causation_id is not None:
        raise ValueError("give the causing envelope or its id, not both")
    if lead_id is None:
        candidate = getattr(data, "lead_id", None)
        lead_id = candidate if isinstance(candidate, uuid.UUID) else None
    if correlation_id is None and causation is not None:
        correlation_id = causation.correlation_id or causation.event_id
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    # Every field is built here from typed values (the body by its own validated model), so the envelope is
    # constructed without re-validating: that re-validation was ~40 % of publishing a LeadUpserted.
    return Envelope.model_construct(
        event_id=uuid.uuid4(),
        event_type=data.EVENT_TYPE,
        event_version=data.EVENT_VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=data.PRODUCER,
        lead_id=lead_id,
        workspace_id=workspace_id,
        correlation_id=correlation_id,
        causation_id=causation.event_id if causation is not None else causation_id,
        data=data.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def headers_for(envelope: Envelope) -> dict[str, str]:
    """The record's headers: the envelope's ids (the kit's consumers read these) and the same facts as
    CloudEvents attributes in the Kafka binding's binary content mode (`ce_*`, `content-type`), so subscribers
    can use any CloudEvents SDK. The mapping is written here rather than through the CloudEvents SDK's
    `to_binary`: that builds and validates an event object and serialises the data again, ~14 µs more per
    event on the publish path for the same seven strings; the tests judge these headers with the SDK's
    `from_binary`."""
    event_id = str(envelope.event_id)
    headers = {
        HEADER_EVENT_ID: event_id,
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_EVENT_VERSION: str(envelope.event_version),
        HEADER_CONTENT_TYPE: "application/json",
        HEADER_CE_SPECVERSION: CLOUDEVENTS_SPECVERSION,
        HEADER_CE_ID: event_id,
        HEADER_CE_SOURCE: CLOUDEVENTS_SOURCE_PREFIX + envelope.producer,
        HEADER_CE_TYPE: CLOUDEVENTS_TYPE_PREFIX + envelope.event_type,
        HEADER_CE_TIME: rfc3339(envelope.occurred_at),
    }
    if envelope.lead_id is not None:
        headers[HEADER_LEAD_ID] = headers[HEADER_CE_SUBJECT] = str(envelope.lead_id)
    if envelope.workspace_id is not None:
        headers[HEADER_CE_WORKSPACE] = envelope.workspace_id
    if envelope.correlation_id is not None:
        headers[HEADER_CORRELATION_ID] = str(envelope.correlation_id)
    if envelope.causation_id is not None:
        headers[HEADER_CAUSATION_ID] = str(envelope.causation_id)
    return headers


def rfc3339(moment: datetime) -> str:
    """`2026-12-02T21:57:22.680236Z`: UTC with a `Z`, as CloudEvents' `time` and most parsers expect."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def kafka_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


def header_dict(raw: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw or ():
        out[key] = value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else str(value)
    return out


@dataclass(frozen=True, slots=True)
class RecordSource:
    """Where a consumed event came from: its topic, the consumer group applying it, the record's headers (the
    trace context the producer wrote)."""

    topic: str
    group: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Decoded:
    envelope: Envelope
    event: EventData
    # Set by the consumers (`servicekit.messaging.consumer`), for the consume span of the event (`consuming`).
    source: RecordSource | None = None


def payload_digest(envelope: Envelope) -> str:
    """SHA-256 of the event's type, version and body as serialised here (key order as the producer wrote it):
    equal for every redelivery of one record, different when an event id is reused for another payload."""
    head = f"{envelope.event_type}/{envelope.event_version}/".encode()
    return hashlib.sha256(head + pydantic_core.to_json(envelope.data)).hexdigest()


def record_digest(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> str:
    """SHA-256 of the whole record as it came from the broker: key, value and headers. Equal only for the same
    record read again (a replay, a redelivery): such a record gets the verdict it got the first time, so a
    consumer that applied it may skip it without decoding it.

    The three are serialised by `marshal` (C, unambiguous, 3 µs for a pipeline record; length-prefixing each
    header in Python took 7 µs). Version 0 of its format: later ones write back-references and mark interned
    strings, so equal records could serialise differently. Should a Python upgrade ever change these bytes, a
    replay would only take the full path (decode, then the inbox), never skip a record wrongly."""
    try:
        packed = marshal.dumps((key, value, tuple(headers or ())), 0)
    except ValueError:  # a header value of a type marshal does not know (not from aiokafka): as plain bytes
        packed = marshal.dumps((key, value, tuple((str(name), bytes(raw)) for name, raw in headers or ())), 0)
    return hashlib.sha256(packed).hexdigest()


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def header_event_id_text(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    """The event id a record's headers state (`event_id`, else `ce_id`) as PostgreSQL writes a uuid as text (lower
    case, dashed), or None when they state none readable. A hint for finding its inbox claim before decoding; the
    envelope stays the truth. The relay's headers are in that form already and pass a pattern match; anything else
    is parsed, then normalised or refused."""
    for name, raw in headers or ():
        if name in (HEADER_EVENT_ID, HEADER_CE_ID):
            try:
                text = bytes(raw).decode("ascii") if isinstance(raw, bytes | bytearray) else str(raw)
                return text if _CANONICAL_UUID.fullmatch(text) else str(uuid.UUID(text))
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def decode(value: bytes | None, *, expected_types: frozenset[str] | None = None) -> Decoded:
    """Record value → envelope + typed body. Raises PoisonMessage for anything that can never be handled."""
    return decode_body(decode_envelope(value, expected_types=expected_types))


def decode_envelope(value: bytes | None, *, expected_types: frozenset[str] | None = None) -> Envelope:
    """Record value → envelope, its type known and expected, its version readable; the body not validated yet
    (`decode_body`): a consumer whose inbox shows the event already applied skips that cost. Raises
    PoisonMessage for anything that can never be handled."""
    if value is None:
        raise PoisonMessage("empty record value (tombstone)")
    if len(value) > MAX_RECORD_BYTES:
        raise PoisonMessage(f"record of {len(value):,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit")
    try:
        raw: Any = pydantic_core.from_json(value)  # the Rust parser: half json.loads' time on large envelopes
    except ValueError as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PoisonMessage("envelope is not a JSON object")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid envelope: {exc.error_count()} error(s): {_first_error(exc)}") from exc
    model = EVENT_MODELS.get(envelope.event_type)
    if model is None:
        raise PoisonMessage(f"unknown event_type {envelope.event_type!r}")
    if expected_types is not None and envelope.event_type not in expected_types:
        raise PoisonMessage(f"event_type {envelope.event_type!r} not expected on this topic")
    # `event_version` is the major version: additive changes keep it (unknown fields are ignored by the models),
    # a breaking one gets a new number and a new `.v<major>` topic. A higher number than the registry's is
    # therefore a future major this consumer cannot read correctly, even when the body happens to validate.
    if envelope.event_version > model.EVENT_VERSION:
        raise PoisonMessage(f"{envelope.event_type} event_version {envelope.event_version} is a future major "
                            f"version (this consumer knows {model.EVENT_VERSION})")
    return envelope


def decode_body(envelope: Envelope, source: RecordSource | None = None) -> Decoded:
    """An envelope from `decode_envelope` → envelope + typed body; PoisonMessage when the body is invalid."""
    model = EVENT_MODELS[envelope.event_type]
    try:
        event = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {envelope.event_type} body: {_first_error(exc)}") from exc
    return Decoded(envelope=envelope, event=event, source=source)


def decode_record(value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]] | None, *,
                  expected_types: frozenset[str] | None = None) -> Decoded:
    """A whole record → envelope + typed body: `decode` of the value, then the record must agree with its
    envelope (`check_record`). What every reader of a topic uses, so each parks the same records."""
    return decode_body(decode_record_envelope(value, key, headers, expected_types=expected_types))


def decode_record_envelope(value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]] | None, *,
                           expected_types: frozenset[str] | None = None) -> Envelope:
    """`decode_record` without the body's validation (`decode_body` does it)."""
    envelope = decode_envelope(value, expected_types=expected_types)
    check_record(envelope, key, headers)
    return envelope


def check_record(envelope: Envelope, key: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> None:
    """Raises PoisonMessage when the record contradicts its envelope.

    - The key of an event about a lead is its lead id, byte for byte as the relay writes it (`str(lead_id)`):
      the key chose the partition (a lead's events keep their order only on one partition) and, on a compacted
      topic, which snapshot a record replaces. A missing or other key is a producer's bug the consumer cannot
      repair, so the record is parked. An event without a lead id may have any key.
    - Headers are optional (the envelope is the record's truth, and records older than a header lack it), but
      each of the envelope's facts a header repeats must match: a record that says one event id in its headers
      and another in its value is read differently by a header-based subscriber than by the kit.
    """
    if envelope.lead_id is not None:
        expected_key = str(envelope.lead_id).encode()
        if key != expected_key:
            shown = "no key" if key is None else f"key {bytes(key)[:80]!r}"
            raise PoisonMessage(f"{shown} on an event of lead {envelope.lead_id} (the key must be its lead id)")
    if not headers:
        return
    facts = _header_facts(envelope)
    for name, raw in headers:
        want = facts.get(name)
        if want is None:
            continue
        value = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
        if not _same(value, want):
            raise PoisonMessage(f"header {name}={value[:80]!r} contradicts the envelope ({want[0]!r})")


def _header_facts(envelope: Envelope) -> dict[str, tuple[str, uuid.UUID | None]]:
    """The headers `headers_for` writes that repeat the envelope's identity, by name → the value they must have,
    as text and, for ids, as the UUID (ids compare as UUIDs, so another producer's spelling of the same id
    agrees)."""
    event_id = (str(envelope.event_id), envelope.event_id)
    facts: dict[str, tuple[str, uuid.UUID | None]] = {
        HEADER_EVENT_ID: event_id,
        HEADER_CE_ID: event_id,
        HEADER_EVENT_TYPE: (envelope.event_type, None),
        HEADER_CE_TYPE: (CLOUDEVENTS_TYPE_PREFIX + envelope.event_type, None),
        HEADER_EVENT_VERSION: (str(envelope.event_version), None),
        HEADER_CE_SOURCE: (CLOUDEVENTS_SOURCE_PREFIX + envelope.producer, None),
    }
    if envelope.lead_id is not None:
        facts[HEADER_LEAD_ID] = facts[HEADER_CE_SUBJECT] = (str(envelope.lead_id), envelope.lead_id)
    return facts


def _same(value: str, want: tuple[str, uuid.UUID | None]) -> bool:
    text, as_uuid = want
    # The kit writes ids as `str(uuid)`: compared as text first, parsed only when spelled otherwise (a third of
    # decoding a record went to parsing these headers back into UUIDs).
    if value == text or as_uuid is None:
        return value == text
    try:
        return uuid.UUID(value) == as_uuid
    except ValueError:
        return False


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err.get('msg', '')}"[:300]
