"""A parked copy always fits the producer's record size: a record the broker took can be within a few hundred bytes
of the limit, and the dead-letter headers come on top (it was retried forever, blocking its partition)."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord
from kit_factories import audit_requested

from contracts.envelope import DLQ_HEADER_HEADERS_DROPPED, DLQ_HEADER_OFFSET, DLQ_HEADER_VALUE_TRUNCATED
from servicekit.messaging.dlq import DLQ_RECORD_LIMIT, park, record_size
from servicekit.messaging.events import PoisonMessage, headers_for, kafka_headers

ENVELOPE = audit_requested()
KEY = str(ENVELOPE.lead_id).encode()
HEADERS = [*kafka_headers(headers_for(ENVELOPE)), ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01")]


def _record(value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic="t.audits.audit-completed.v1", partition=3, offset=41, timestamp=0, timestamp_type=0,
                          key=KEY, value=value, checksum=None, serialized_key_size=len(KEY),
                          serialized_value_size=len(value), headers=tuple(headers))


async def _parked(value: bytes, headers: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    sent: list[tuple[bytes, dict[str, str]]] = []

    async def publish(v: bytes, topic: str, key: bytes | None, h: dict[str, str]) -> None:
        assert key == KEY and topic.endswith(".dlq")
        sent.append((v, h))

    await park(_record(value, headers), dlq_topic="t.audits.audit-completed.v1.dlq", group="g",
               error=PoisonMessage("x" * 2000), publish=publish)
    [(v, h)] = sent
    assert record_size(v, KEY, h) <= DLQ_RECORD_LIMIT
    return v, h


async def test_a_record_that_fits_is_parked_unchanged_with_its_headers() -> None:
    value = b"v" * 1_040_000
    parked, headers = await _parked(value, HEADERS)
    assert parked == value and all(headers[k] == v.decode() for k, v in HEADERS)
    assert DLQ_HEADER_HEADERS_DROPPED not in headers and headers[DLQ_HEADER_OFFSET] == "41"


async def test_at_the_limit_its_own_headers_are_left_off_first() -> None:
    # As big as the producer takes with the relay's headers; the dead-letter headers on top would not fit.
    value = b"v" * (DLQ_RECORD_LIMIT - record_size(b"", KEY, {k: v.decode() for k, v in HEADERS}) - 16)
    parked, headers = await _parked(value, HEADERS)
    assert parked == value
    assert headers[DLQ_HEADER_HEADERS_DROPPED] == str(len(HEADERS)) and "event_id" not in headers
    assert headers[DLQ_HEADER_OFFSET] == "41" and DLQ_HEADER_VALUE_TRUNCATED not in headers


async def test_a_value_that_cannot_fit_with_the_dead_letter_headers_is_cut_and_says_so() -> None:
    value = b"v" * (DLQ_RECORD_LIMIT - 120)
    parked, headers = await _parked(value, [])
    assert value.startswith(parked) and len(parked) < len(value)
    assert headers[DLQ_HEADER_VALUE_TRUNCATED] == str(len(value)) and headers[DLQ_HEADER_HEADERS_DROPPED] == "0"
