"""Dead-lettering: a record that cannot be handled goes to `<topic>.dlq` with its origin and the error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from contracts.envelope import (
    DLQ_HEADER_ERROR,
    DLQ_HEADER_ERROR_CLASS,
    DLQ_HEADER_FAILED_AT,
    DLQ_HEADER_GROUP,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
)
from servicekit.events import header_dict

log = logging.getLogger(__name__)

# Publishes (value, topic, key, headers); the broker's idempotent producer in services, a fake in unit tests.
DlqPublish = Callable[[bytes, str, bytes | None, dict[str, str]], Awaitable[None]]


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
    """Publishes the original bytes unchanged to the DLQ; raises if the publish fails (the record is then
    redelivered, never dropped)."""
    value = record.value if isinstance(record.value, bytes) else (b"" if record.value is None else bytes(record.value))
    key = record.key if isinstance(record.key, bytes) or record.key is None else bytes(record.key)
    log.error(
        "record dead-lettered",
        extra={"fields": {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                          "group": group, "error_class": type(error).__name__, "error": str(error)[:300]}},
    )
    await publish(value, dlq_topic, key, dlq_headers(record, group=group, error=error))
