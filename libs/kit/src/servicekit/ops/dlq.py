"""Dead-letter topics: list with depth, inspect, and redrive back to the origin topic.

Redrive progress lives in the consumer group `ops.redrive.<dlq>` (committed without joining it): the
committed offset is the first record not yet handled, and its metadata lists the handled offsets beyond it
(records redriven by a filtered run past one it left behind). A run therefore never republishes a record
an earlier run already republished; the commit follows each published batch, so a crash between a publish
and its commit can republish that batch once more — the consumers' inbox makes that harmless.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
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
from servicekit.events import header_dict
from servicekit.kafka_config import PRODUCER_SAFETY
from servicekit.ops.kafka import (
    OpsError,
    admin_client,
    beginning_offsets,
    committed_offsets,
    end_offsets,
    list_topics,
    offsets_consumer,
    read_until,
    topic_partitions,
)

DLQ_SUFFIX = ".dlq"
DLQ_HEADER_PREFIX = "dlq_"
REDRIVEN_FROM_HEADER = "redriven_from"
# The broker's default offset.metadata.max.bytes is 4096; stay well below it.
MAX_CURSOR_METADATA = 3500

Progress = Callable[[int], None]


def redrive_group(dlq_topic: str) -> str:
    return f"ops.redrive.{dlq_topic}"


@dataclass(frozen=True)
class DlqSummary:
    topic: str
    depth: int  # records retained in the DLQ
    pending: int  # records the redrive cursor has not handled yet


async def list_dlqs(bootstrap: str, *, prefix: str = "") -> list[DlqSummary]:
    out: list[DlqSummary] = []
    async with admin_client(bootstrap) as admin, offsets_consumer(bootstrap) as consumer:
        for topic in await list_topics(admin):
            if topic.endswith(DLQ_SUFFIX) and topic.startswith(prefix):
                out.append(await _summary(admin, consumer, topic))
    return out


async def dlq_depths(bootstrap: str, topics: Sequence[str]) -> list[DlqSummary]:
    """Depth of the given DLQ topics (those that do not exist yet are reported empty)."""
    async with admin_client(bootstrap) as admin, offsets_consumer(bootstrap) as consumer:
        existing = set(await list_topics(admin))
        return [await _summary(admin, consumer, t) if t in existing else DlqSummary(t, 0, 0) for t in topics]


async def _summary(admin: Any, consumer: Any, topic: str) -> DlqSummary:
    tps = await topic_partitions(admin, topic)
    first = await beginning_offsets(consumer, tps)
    ends = await end_offsets(consumer, tps)
    cursors = await committed_offsets(admin, redrive_group(topic), tps)
    depth = sum(ends[tp] - first[tp] for tp in tps)
    pending = 0
    for tp in tps:
        cursor = max(cursors[tp][0], first[tp]) if tp in cursors else first[tp]
        done = len([o for o in decode_done(cursors[tp][1]) if o < ends[tp]]) if tp in cursors else 0
        pending += max(0, ends[tp] - cursor - done)
    return DlqSummary(topic, depth, pending)


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


async def inspect_dlq(bootstrap: str, dlq_topic: str, *, limit: int = 50, timeout_s: float = 30.0) -> list[DlqEntry]:
    """The first `limit` retained records of the DLQ, oldest first (reads without a consumer group)."""
    entries: list[DlqEntry] = []
    async with admin_client(bootstrap) as admin, offsets_consumer(bootstrap) as consumer:
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


# --- redrive cursor -------------------------------------------------------------------------------------------

def encode_done(offsets: Iterable[int]) -> str:
    """Handled offsets beyond the cursor as compact ranges: {"done": [[first, last], ...]}."""
    ranges: list[list[int]] = []
    for o in sorted(set(offsets)):
        if ranges and ranges[-1][1] == o - 1:
            ranges[-1][1] = o
        else:
            ranges.append([o, o])
    return json.dumps({"done": ranges}, separators=(",", ":")) if ranges else ""


def decode_done(metadata: str) -> set[int]:
    if not metadata:
        return set()
    try:
        ranges = json.loads(metadata).get("done", [])
        return {o for first, last in ranges for o in range(int(first), int(last) + 1)}
    except (ValueError, TypeError, AttributeError) as exc:
        raise OpsError(f"unreadable redrive cursor metadata {metadata[:80]!r}") from exc


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
) -> RedriveResult:
    """Republishes each not-yet-redriven DLQ record (original key, bytes and headers, minus `dlq_*`, plus
    `redriven_from`) to its origin topic with an idempotent acks=all producer, committing the cursor after
    each batch. `dry_run` reports what would be redriven and changes nothing."""
    result = RedriveResult(dlq_topic, dry_run)
    group = redrive_group(dlq_topic)
    async with admin_client(bootstrap) as admin:
        tps = await topic_partitions(admin, dlq_topic)
        existing_topics = set(await list_topics(admin))
        stored = await committed_offsets(admin, group, tps)
        async with offsets_consumer(bootstrap, group_id=group) as consumer:
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
                                                             **PRODUCER_SAFETY)
            if producer is not None:
                await producer.start()
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
