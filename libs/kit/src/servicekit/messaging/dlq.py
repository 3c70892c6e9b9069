"""Dead-lettering: a record that cannot be handled goes to `<topic>.dlq` with its origin and the error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.envelope import (
    DLQ_HEADER_ERROR,
    DLQ_HEADER_ERROR_CLASS,
    DLQ_HEADER_FAILED_AT,
    DLQ_HEADER_GROUP,
    DLQ_HEADER_HEADERS_DROPPED,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_VALUE_TRUNCATED,
)
from servicekit.messaging.events import header_dict

log = logging.getLogger(__name__)

# Publishes (value, topic, key, headers); the broker's idempotent producer in services, a fake in unit tests.
DlqPublish = Callable[[bytes, str, bytes | None, dict[str, str]], Awaitable[None]]

# The largest parked copy, as the producer measures a record (batch overhead included): its max_request_size,
# aiokafka's default 1,048,576 (below the broker's default max.message.bytes of 1,048,588), less room for what the
# broker client adds on publish (FastStream's `correlation_id` header when the record has none: ~55 bytes).
DLQ_RECORD_LIMIT = 1_048_576 - 128
_SHORT_ERROR = 200


def dlq_headers(record: ConsumerRecord[Any, Any], *, group: str, error: BaseException) -> dict[str, str]:
    headers = header_dict(record.headers)
    headers.update(
        {
            DLQ_HEADER_TOPIC: record.topic,
            DLQ_HEADER_PARTITION: str(record.partition),
            DLQ_HEADER_OFFSET: str(record.offset),
            DLQ_HEADER_GROUP: group,
            DLQ_HEADER_ERROR_CLASS: type(error).__name__,
            DLQ_HEADER_ERROR: str(error)[:1000],
            DLQ_HEADER_FAILED_AT: datetime.now(UTC).isoformat(),
        }
    )
    return headers


async def park(
    record: ConsumerRecord[Any, Any], *, dlq_topic: str, group: str, error: BaseException, publish: DlqPublish
) -> None:
    """Publishes the original bytes unchanged to the DLQ (unless they cannot fit: `fit_for_dlq`); raises if the
    publish fails (the record is then redelivered, never dropped)."""
    value = record.value if isinstance(record.value, bytes) else (b"" if record.value is None else bytes(record.value))
    key = record.key if isinstance(record.key, bytes) or record.key is None else bytes(record.key)
    log.error(
        "record dead-lettered",
        extra={"fields": {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                          "group": group, "error_class": type(error).__name__, "error": str(error)[:300]}},
    )
    value, headers = fit_for_dlq(value, key, dlq_headers(record, group=group, error=error))
    await publish(value, dlq_topic, key, headers)


def record_size(value: bytes, key: bytes | None, headers: dict[str, str]) -> int:
    """What the producer's size check makes of the record (an upper bound, as aiokafka computes it)."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [(k, v.encode()) for k, v in headers.items()]))


def fit_for_dlq(value: bytes, key: bytes | None, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The parked copy, made to fit the broker's record size: a record the broker took can be within a few hundred
    bytes of the limit, and the dead-letter headers come on top. Unchanged whenever it fits (always, for records
    up to MAX_RECORD_BYTES); otherwise the record's own headers are left off (they repeat the envelope), and only
    if that is not enough the value is cut. A copy that could not be published would be retried forever and block
    the partition; the origin offset still holds the whole record while the topic retains it."""
    if record_size(value, key, headers) <= DLQ_RECORD_LIMIT:
        return value, headers
    own = {k: v for k, v in headers.items() if k.startswith("dlq_")}
    dropped = len(headers) - len(own)
    own[DLQ_HEADER_ERROR] = own.get(DLQ_HEADER_ERROR, "")[:_SHORT_ERROR]
    own[DLQ_HEADER_HEADERS_DROPPED] = str(dropped)
    if record_size(value, key, own) <= DLQ_RECORD_LIMIT:
        return value, own
    own[DLQ_HEADER_VALUE_TRUNCATED] = str(len(value))
    room = DLQ_RECORD_LIMIT - record_size(b"", key, own) - 16  # the value's own length varint grows with it
    return value[:max(0, room)], own
