"""Dead-letter topics: inspect, and redrive back to the origin topic (their depth and age, `dlq list`, are
`servicekit.messaging.dlq_depth`, which a service API's `/metrics` reads too).

Redrive progress lives in the consumer group `ops.redrive.<dlq>` (committed without joining it): the
committed offset is the first record not yet handled, and its metadata lists the handled offsets beyond it
(records redriven by a filtered run past one it left behind). A run therefore never republishes a record
an earlier run already republished; the commit follows each published batch, so a crash between a publish
and its commit can republish that batch once more — the consumers' inbox makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from contracts.envelope import (
    DLQ_HEADER_ERROR,
    DLQ_HEADER_ERROR_CLASS,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
)
from servicekit.messaging.dlq_depth import (
    MAX_CURSOR_METADATA,
    decode_done,
    encode_done,
    redrive_group,
)
from servicekit.messaging.events import header_dict
from servicekit.messaging.kafka_admin import (
    admin_client,
    beginning_offsets,
    committed_offsets,
    end_offsets,
    list_topics,
    offsets_consumer,
    read_until,
    topic_partitions,
)
from servicekit.messaging.kafka_config import PRODUCER_SAFETY, KafkaSecurity, client_options, start_client

DLQ_HEADER_PREFIX = "dlq_"
REDRIVEN_FROM_HEADER = "redriven_from"

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DlqEntry:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def meta(self) -> dict[str, str]:
        return header_dict(list(self.headers))

    @property
    def origin_topic(self) -> str | None:
        return self.meta.get(DLQ_HEADER_TOPIC)

    @property
    def origin(self) -> str:
        m = self.meta
        return f"{m.get(DLQ_HEADER_TOPIC, '?')}[{m.get(DLQ_HEADER_PARTITION, '?')}]@{m.get(DLQ_HEADER_OFFSET, '?')}"

    @property
    def error_class(self) -> str:
        return self.meta.get(DLQ_HEADER_ERROR_CLASS, "")

    @property
    def error(self) -> str:
        return self.meta.get(DLQ_HEADER_ERROR, "")

    @property
    def event_type(self) -> str:
        return self.meta.get(HEADER_EVENT_TYPE, "")

    @property
    def event_id(self) -> str:
        return self.meta.get(HEADER_EVENT_ID, "")

    def redrive_headers(self, dlq_topic: str) -> list[tuple[str, bytes]]:
        """The original headers (the dead-lettering ones removed) plus where the record was redriven from."""
        kept = [(k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX) and k != REDRIVEN_FROM_HEADER]
        return [*kept, (REDRIVEN_FROM_HEADER, f"{dlq_topic}:{self.partition}:{self.offset}".encode())]


def _entry(record: ConsumerRecord[Any, Any]) -> DlqEntry:
    headers = tuple((str(k), bytes(v) if v is not None else b"") for k, v in (record.headers or ()))
    return DlqEntry(record.partition, record.offset, record.key, record.value, headers)


async def inspect_dlq(bootstrap: str, dlq_topic: str, *, limit: int = 50, timeout_s: float = 30.0,
                      security: KafkaSecurity | None = None) -> list[DlqEntry]:
    """The first `limit` retained records of the DLQ, oldest first (reads without a consumer group)."""
    entries: list[DlqEntry] = []
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        tps = await topic_partitions(admin, dlq_topic)
        ends = await end_offsets(consumer, tps)
        starts = await beginning_offsets(consumer, tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        async with aclosing(read_until(consumer, ends, timeout_s=timeout_s)) as records:
            async for record in records:
                entries.append(_entry(record))
                if len(entries) >= limit:
                    break
    return sorted(entries, key=lambda e: (e.partition, e.offset))


@dataclass
class Cursor:
    """Advances over handled records; the first unhandled one pins it, later handled ones go to `done`."""

    position: int
    done: set[int]
    blocked: bool = False

    def handled(self, offset: int) -> None:
        if self.blocked:
            self.done.add(offset)
        else:
            self.position = offset + 1
            self.done.discard(offset)

    def left(self, _offset: int) -> None:
        self.blocked = True

    def finish(self, end: int) -> None:
        if not self.blocked:
            self.position = max(self.position, end)
        self.done = {o for o in self.done if o >= self.position}


@dataclass
class RedriveResult:
    dlq_topic: str
    dry_run: bool
    redriven: list[DlqEntry] = field(default_factory=list)
    already_redriven: int = 0
    skipped_filter: list[int] = field(default_factory=list)
    skipped_no_origin: list[int] = field(default_factory=list)
    stopped_early: str | None = None


async def redrive(
    bootstrap: str,
    dlq_topic: str,
    *,
    only_error_class: str | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    timeout_s: float = 120.0,
    security: KafkaSecurity | None = None,
) -> RedriveResult:
    """Republishes each not-yet-redriven DLQ record (original key, bytes and headers, minus `dlq_*`, plus
    `redriven_from`) to its origin topic with an idempotent acks=all producer, committing the cursor after
    each batch. `dry_run` reports what would be redriven and changes nothing."""
    result = RedriveResult(dlq_topic, dry_run)
    group = redrive_group(dlq_topic)
    async with admin_client(bootstrap, security) as admin:
        tps = await topic_partitions(admin, dlq_topic)
        existing_topics = set(await list_topics(admin))
        stored = await committed_offsets(admin, group, tps)
        async with offsets_consumer(bootstrap, group_id=group, security=security) as consumer:
            starts = await beginning_offsets(consumer, tps)
            ends = await end_offsets(consumer, tps)
            cursors = {tp: Cursor(max(stored[tp][0], starts[tp]) if tp in stored else starts[tp],
                                  decode_done(stored[tp][1]) if tp in stored else set()) for tp in tps}
            if on_total is not None:
                on_total(sum(max(0, ends[tp] - cursors[tp].position) for tp in tps))
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, cursors[tp].position)
            producer = None if dry_run else AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="outreach-ops-redrive",
                                                             **PRODUCER_SAFETY, **client_options(security))
            if producer is not None:
                try:
                    await start_client(producer.start, bootstrap, security, what="outreach-ops redrive producer")
                except Exception:
                    await producer.stop()
                    raise
            try:
                batch: list[tuple[TopicPartition, DlqEntry]] = []
                records = read_until(consumer, ends, timeout_s=timeout_s, max_records=batch_size)
                async for record in records:
                    tp = TopicPartition(record.topic, record.partition)
                    entry = _entry(record)
                    cursor = cursors[tp]
                    if record.offset in cursor.done:
                        result.already_redriven += 1
                        cursor.handled(record.offset)
                    elif entry.origin_topic is None or entry.origin_topic not in existing_topics:
                        result.skipped_no_origin.append(record.offset)
                        cursor.left(record.offset)
                    elif only_error_class is not None and entry.error_class != only_error_class:
                        result.skipped_filter.append(record.offset)
                        cursor.left(record.offset)
                    else:
                        if cursor.blocked and len(encode_done({*cursor.done, record.offset})) > MAX_CURSOR_METADATA:
                            result.stopped_early = (f"too many records redriven past offset {cursor.position}, which "
                                                    "this run leaves behind; redrive that record's error class first")
                            break
                        batch.append((tp, entry))
                        cursor.handled(record.offset)
                    if progress is not None:
                        progress(1)
                    if len(batch) >= batch_size:
                        await _flush(producer, consumer, dlq_topic, batch, cursors, result)
                        batch = []
                await records.aclose()
                await _flush(producer, consumer, dlq_topic, batch, cursors, result)
                if result.stopped_early is None:
                    for tp in tps:
                        cursors[tp].finish(ends[tp])
                await _commit(producer, consumer, cursors)
            finally:
                if producer is not None:
                    await producer.stop()
    return result


async def _flush(producer: AIOKafkaProducer | None, consumer: Any, dlq_topic: str,
                 batch: list[tuple[TopicPartition, DlqEntry]], cursors: dict[TopicPartition, Cursor],
                 result: RedriveResult) -> None:
    if producer is not None and batch:
        futures = [await producer.send(e.origin_topic or "", value=e.value, key=e.key,
                                       headers=e.redrive_headers(dlq_topic)) for _tp, e in batch]
        await asyncio.gather(*futures)
    result.redriven.extend(e for _tp, e in batch)
    await _commit(producer, consumer, cursors)


async def _commit(producer: AIOKafkaProducer | None, consumer: Any, cursors: dict[TopicPartition, Cursor]) -> None:
    if producer is None:  # dry run: the cursor is never moved
        return
    await consumer.commit({tp: OffsetAndMetadata(c.position, encode_done(c.done)) for tp, c in cursors.items()})
