"""The depth and age of dead-letter topics, as a service API's `/metrics` and the ops tooling's `dlq list` read
them, and the redrive cursor they count against (libs/ops redrives; see outreach_ops.dlq).

Redrive progress lives in the consumer group `ops.redrive.<dlq>` (committed without joining it): the
committed offset is the first record not yet handled, and its metadata lists the handled offsets beyond it
(`encode_done`/`decode_done`).

The age of a DLQ is the age of its oldest record not redriven yet (`DlqSummary.oldest_pending_age_s`), from the
record's broker timestamp: the one the DLQ's time-based retention deletes by, so an alert on it fires before a
parked record can expire unseen. It is read from the first pending offset of each partition that has pending
records (one record each, assigned without a consumer group), within a bounded time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import TopicPartition

from servicekit.messaging.kafka_admin import (
    OpsError,
    admin_client,
    beginning_offsets,
    committed_offsets,
    end_offsets,
    list_topics,
    offsets_consumer,
    topic_partitions,
)
from servicekit.messaging.kafka_config import KafkaSecurity

DLQ_SUFFIX = ".dlq"
# The broker's default offset.metadata.max.bytes is 4096; stay well below it.
MAX_CURSOR_METADATA = 3500
# Reading the oldest pending record of each partition is best effort within this time (the /metrics probe has
# 5 s in all); past it the age is reported unknown rather than delaying or failing the depths.
AGE_READ_TIMEOUT_S = 3.0

log = logging.getLogger(__name__)


def redrive_group(dlq_topic: str) -> str:
    return f"ops.redrive.{dlq_topic}"


@dataclass(frozen=True)
class DlqSummary:
    topic: str
    depth: int  # records retained in the DLQ
    pending: int  # records the redrive cursor has not handled yet
    # Broker timestamp (ms since the epoch) of the oldest pending record; None when none is pending or unknown.
    oldest_pending_ms: int | None = None
    # False when a pending partition's first record could not be read in time (or at all, e.g. no Read ACL).
    age_known: bool = True

    def oldest_pending_age_s(self, now_ms: float | None = None) -> float | None:
        """Seconds since the oldest pending record was written: 0 when none is pending, None when unknown."""
        if not self.age_known:
            return None
        if self.pending == 0 or self.oldest_pending_ms is None:
            return 0.0
        now = time.time() * 1000 if now_ms is None else now_ms
        return max(0.0, (now - self.oldest_pending_ms) / 1000)  # never negative on a producer's clock skew


async def list_dlqs(bootstrap: str, *, prefix: str = "", security: KafkaSecurity | None = None,
                    age_timeout_s: float = AGE_READ_TIMEOUT_S) -> list[DlqSummary]:
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        topics = [t for t in await list_topics(admin) if t.endswith(DLQ_SUFFIX) and t.startswith(prefix)]
        return await _summaries(admin, consumer, topics, age_timeout_s=age_timeout_s)


async def dlq_depths(bootstrap: str, topics: Sequence[str], *, security: KafkaSecurity | None = None,
                     age_timeout_s: float = AGE_READ_TIMEOUT_S) -> list[DlqSummary]:
    """Depth and age of the given DLQ topics (those that do not exist yet are reported empty)."""
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        existing = set(await list_topics(admin))
        found = await _summaries(admin, consumer, [t for t in topics if t in existing], age_timeout_s=age_timeout_s)
        by_topic = {s.topic: s for s in found}
        return [by_topic.get(t, DlqSummary(t, 0, 0)) for t in topics]


@dataclass(frozen=True)
class _Pending:
    """A partition with pending records: the redrive cursor, the log end, the handled offsets in between."""

    cursor: int
    end: int
    done: frozenset[int]

    def first_from(self, offset: int) -> int | None:
        """The first offset at or after `offset` not handled yet, or None past the end."""
        while offset in self.done:
            offset += 1
        return offset if offset < self.end else None


async def _summaries(admin: Any, consumer: Any, topics: Sequence[str], *, age_timeout_s: float) -> list[DlqSummary]:
    counted = [await _count(admin, consumer, topic) for topic in topics]
    pending = {tp: p for _summary, parts in counted for tp, p in parts.items()}
    stamps = await _first_pending_timestamps(consumer, pending, timeout_s=age_timeout_s)
    out: list[DlqSummary] = []
    for summary, parts in counted:
        if any(tp not in stamps for tp in parts):
            out.append(replace(summary, age_known=False))
        else:
            known = [ts for tp in parts if (ts := stamps[tp]) is not None]
            out.append(replace(summary, oldest_pending_ms=min(known, default=None)))
    return out


async def _count(admin: Any, consumer: Any, topic: str) -> tuple[DlqSummary, dict[TopicPartition, _Pending]]:
    tps = await topic_partitions(admin, topic)
    first = await beginning_offsets(consumer, tps)
    ends = await end_offsets(consumer, tps)
    cursors = await committed_offsets(admin, redrive_group(topic), tps)
    depth = sum(ends[tp] - first[tp] for tp in tps)
    pending = 0
    parts: dict[TopicPartition, _Pending] = {}
    for tp in tps:
        cursor = max(cursors[tp][0], first[tp]) if tp in cursors else first[tp]
        done = frozenset(o for o in decode_done(cursors[tp][1]) if cursor <= o < ends[tp]) if tp in cursors \
            else frozenset()
        left = max(0, ends[tp] - cursor - len(done))
        pending += left
        if left:
            parts[tp] = _Pending(cursor, ends[tp], done)
    return DlqSummary(topic, depth, pending), parts


async def _first_pending_timestamps(consumer: Any, pending: dict[TopicPartition, _Pending], *,
                                    timeout_s: float) -> dict[TopicPartition, int | None]:
    """{partition: timestamp of its first record not handled yet (None: none before the end)} for the partitions
    read within `timeout_s`; one fetch position per partition, each paused once its record is in. A partition
    missing from the answer is unknown (timed out, or the read failed: logged, never raised)."""
    out: dict[TopicPartition, int | None] = {}
    targets = {tp: p.first_from(p.cursor) for tp, p in pending.items()}
    out.update({tp: None for tp, offset in targets.items() if offset is None})
    waiting = {tp for tp, offset in targets.items() if offset is not None}
    if not waiting:
        return out
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        consumer.assign(sorted(waiting))
        for tp in waiting:
            consumer.seek(tp, targets[tp])
        while waiting and loop.time() < deadline:
            wait_ms = max(1, min(200, int((deadline - loop.time()) * 1000)))
            batch = await consumer.getmany(*waiting, timeout_ms=wait_ms)
            for tp, records in batch.items():
                for record in records:
                    if tp not in waiting or record.offset < (targets[tp] or 0):
                        continue
                    if record.offset >= pending[tp].end:  # nothing pending left below the end snapshot
                        out[tp] = None
                    elif record.offset in pending[tp].done:  # an offset gap led to a handled record: go on past it
                        nxt = pending[tp].first_from(record.offset)
                        if nxt is None:
                            out[tp] = None
                        else:
                            targets[tp] = nxt
                            consumer.seek(tp, nxt)
                            break
                    else:
                        out[tp] = int(record.timestamp)
                    if tp in out:
                        waiting.discard(tp)
                        consumer.pause(tp)
                        break
    except Exception as exc:  # the depths stand without the age (e.g. a user without Read on the DLQ)
        log.warning("could not read the oldest pending DLQ records: %s: %s", type(exc).__name__, exc)
        return out
    if waiting:
        log.warning("DLQ age unknown for %s (not read within %.1fs)", sorted(f"{t.topic}[{t.partition}]"
                                                                             for t in waiting), timeout_s)
    return out


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
