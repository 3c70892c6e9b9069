"""The kit's Kafka subscriber: one consumer-group member that fetches batches with aiokafka, hands each batch to its
`EventConsumer`, and commits the offsets only after the batch's transaction committed.

Why the kit owns this loop instead of using FastStream's batch subscriber: FastStream's fetch sleeps another
`batch_timeout_ms` after every empty fetch, so at low traffic a record that arrived during that sleep waited up
to 100 ms more (the first hop's p99 was 66 ms at 2 leads/s), and the fetch responses' high watermarks (the lag
metric) are out of a handler's sight. FastStream offers no supported way to change its fetch: the kit used to
replace the private `get_msg` method of every subscriber, which tied the project to one FastStream patch version.
The loop is short and uses only aiokafka's public consumer API (`getmany`, `commit`, `seek`, `highwater`,
`assignment`). FastStream remains the broker client that publishes dead letters (`servicekit.messaging.broker`),
and it starts and stops these subscribers with itself.

The ack policy, explicit: after `EventConsumer.process` returns, each partition's offset after the batch's last
record is due for commit (at-least-once; the inbox makes a redelivery a no-op). Due offsets are committed at most
every `commit_interval_ms` (100 ms), and at once when a fetch comes back empty, when partitions are revoked and when
the member stops: a batch never waits for its commit, and a busy member commits the newest offsets of many small
batches in one request. (At 50 leads/s a batch holds a record or two: one commit per batch was, by an estimate from
the request mix, about a quarter of the broker's requests; docs/PERFORMANCE.md.) The commit travels while the next
batch is fetched and applied, one commit in flight at most; a stop waits for it. If `process` raises (the DLQ
unreachable, the database gone past the consumer's retry budget), each partition of the batch is rewound to its
first record of the batch and the batch is fetched again; nothing of it becomes due. A commit refused because a
rebalance took the partitions meanwhile is logged: the next owner reads from the last committed offset and its inbox
skips what this member applied (so does a member killed with due offsets: at most `commit_interval_ms` of records
are delivered again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError

from servicekit.messaging.broker import KitKafkaBroker
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.kafka_config import KafkaSecurity, client_options, start_client, startup_wait_s

log = logging.getLogger(__name__)

_FETCH_ERROR_PAUSE_S = 5.0  # after a failed fetch (the broker away): what FastStream's loop waited too
_FAILED_BATCH_PAUSE_S = 0.5  # after a batch that raised: fetched again, but not in a tight loop
_REVOKE_COMMIT_WAIT_S = 5.0  # a rebalance waits this long at most for the due offsets' commit
# A lingering member's fetch returns early once this much has arrived: a backlog of 256 KiB or more (a lead snapshot
# is 1-3 KB: a few hundred of them) is answered at once, a smaller one within the linger.
LINGER_MIN_BYTES = 256 * 1024


def subscribe(broker: KitKafkaBroker, consumer: EventConsumer[Any], *, topic_name: str, max_records: int = 500,
              batch_timeout_ms: int = 100, linger_ms: int = 0) -> GroupSubscriber:
    """A member of the consumer's group on `topic_name`, started and stopped with `broker` (whose address,
    security and client id it shares)."""
    subscriber = GroupSubscriber(consumer, topic=topic_name, bootstrap=broker.kit_bootstrap,
                                 security=broker.kit_security, client_id=broker.kit_client_id,
                                 max_records=max_records, batch_timeout_ms=batch_timeout_ms, linger_ms=linger_ms)
    broker.kit_subscribers.append(subscriber)
    return subscriber


class GroupSubscriber:
    """A member of `consumer.group` reading `topic`; `start()` joins the group, `stop()` finishes the batch in hand
    (up to `graceful_timeout_s`) and leaves. Restartable: each `start()` builds a new member (the membership
    watchdog replaces a stuck one that way)."""

    def __init__(self, consumer: EventConsumer[Any], *, topic: str, bootstrap: str, security: KafkaSecurity,
                 client_id: str | None = None, max_records: int = 500, batch_timeout_ms: int = 100,
                 commit_interval_ms: int = 100, linger_ms: int = 0, graceful_timeout_s: float = 30.0) -> None:
        """`linger_ms` > 0: the broker holds each fetch until `LINGER_MIN_BYTES` have arrived or `linger_ms` have
        passed, so under a trickle of records a batch gathers what arrived in that time (one transaction for many
        records) at the price of up to `linger_ms` more latency; a backlog over `LINGER_MIN_BYTES` is fetched at
        once either way. Only for
        subscriptions no one waits on and whose lateness changes no other handler's outcome."""
        self.handler = consumer
        self.topic = topic
        self.group_id = consumer.group
        self.max_records = max_records
        self.batch_timeout_ms = batch_timeout_ms
        self.commit_interval_s = commit_interval_ms / 1000
        self.linger_ms = linger_ms
        self.graceful_timeout_s = graceful_timeout_s
        self._bootstrap = bootstrap
        self._security = security
        self._client_id = client_id
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._committing: asyncio.Task[None] | None = None  # the last commit, while in flight
        self._due: dict[TopicPartition, int] = {}  # applied, not yet committed: per partition, the next offset
        self._last_commit = 0.0  # monotonic
        self._commit_order = asyncio.Lock()  # the loop and a revocation both commit: one after the other
        self._running = False

    def _member(self) -> AIOKafkaConsumer:
        # Without a linger, aiokafka's defaults: the broker answers a fetch as soon as one byte is there.
        fetch = ({"fetch_min_bytes": LINGER_MIN_BYTES, "fetch_max_wait_ms": self.linger_ms} if self.linger_ms > 0
                 else {})
        kafka = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=self.group_id,
                                 client_id=self._client_id or "aiokafka", enable_auto_commit=False,
                                 auto_offset_reset="earliest", **fetch, **client_options(self._security))
        kafka.subscribe([self.topic], listener=_LoggingListener(self.group_id,
                                                                lambda: self._commit_before_revoke(kafka)))
        return kafka

    async def start(self) -> None:
        async def start_member() -> None:
            self.consumer = self._member()
            await self.consumer.start()

        await start_client(start_member, self._bootstrap, self._security, what=f"Kafka consumer {self.group_id!r}",
                           wait_s=startup_wait_s(), reset=self._close_member)
        assert self.consumer is not None
        self._running = True
        self._task = asyncio.create_task(self._run(self.consumer), name=f"consume {self.group_id}")

    async def stop(self) -> None:
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.graceful_timeout_s)
            except TimeoutError:
                log.warning("group %s: the batch in hand did not finish within %.0fs; cancelled", self.group_id,
                            self.graceful_timeout_s)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:
                log.exception("group %s: the fetch loop had failed", self.group_id)
        await self._close_member()

    async def _close_member(self) -> None:
        kafka, self.consumer = self.consumer, None
        if kafka is not None:
            with contextlib.suppress(Exception):
                await kafka.stop()

    async def _run(self, kafka: AIOKafkaConsumer) -> None:
        try:
            await self._loop(kafka)
        finally:
            await self._commit_due(kafka)
            committing, self._committing = self._committing, None
            if committing is not None:
                await committing  # a stop leaves after the last applied batch's commit was answered

    async def _loop(self, kafka: AIOKafkaConsumer) -> None:
        while self._running:
            try:
                records = await self.fetch(kafka)
            except ConsumerStoppedError:
                return
            except Exception:  # the broker away, or anything else: the loop must outlive it
                log.exception("group %s: fetching failed; trying again in %.0fs", self.group_id,
                              _FETCH_ERROR_PAUSE_S)
                await asyncio.sleep(_FETCH_ERROR_PAUSE_S)
                continue
            if not records:
                await self._commit_due(kafka)  # caught up: what was applied is committed now
                continue
            try:
                await self.handler.process(records)
            except Exception:
                log.exception("group %s: a batch of %d records failed; it is fetched again", self.group_id,
                              len(records))
                rewind(kafka, records)
                await asyncio.sleep(_FAILED_BATCH_PAUSE_S)
                continue
            self._due.update(batch_offsets(records))
            if time.monotonic() - self._last_commit >= self.commit_interval_s:
                await self._commit_due(kafka)

    async def _commit_due(self, kafka: AIOKafkaConsumer) -> None:
        """Sends the due offsets, to be committed while the next batch is fetched and applied: one commit in flight
        at most, each answered before the next is sent (so they arrive in order)."""
        async with self._commit_order:
            if not self._due:
                return
            if self._committing is not None:
                await self._committing
            offsets, self._due = self._due, {}
            self._last_commit = time.monotonic()
            self._committing = asyncio.create_task(self._commit(kafka, offsets))

    async def _commit_before_revoke(self, kafka: AIOKafkaConsumer) -> None:
        """Partitions are being revoked: their due offsets are committed before the group moves them, so the next
        owner starts after what this member applied (waiting at most `_REVOKE_COMMIT_WAIT_S`)."""
        await self._commit_due(kafka)
        committing = self._committing
        if committing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(committing), _REVOKE_COMMIT_WAIT_S)

    async def _commit(self, kafka: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await kafka.commit(offsets)
        except Exception as exc:
            log.warning("group %s: offsets not committed (%s: %s); the partitions' next owner reads them again "
                        "and skips what was applied", self.group_id, type(exc).__name__, exc)

    async def fetch(self, kafka: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
        """One batch from every assigned partition, as soon as any is there, noting each partition's lag. After a
        fetch that came back empty early, only what is left of `batch_timeout_ms` is waited (an idle or paused
        member does not spin); a fetch that waited its whole timeout is not followed by another wait."""
        started = time.monotonic()
        batches = await kafka.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
        if batches or not self.linger_ms:
            # An empty fetch of a lingering member proves nothing (the broker may be holding records for it): its
            # lag stays what its last batch showed.
            note_lag(kafka, batches, self.handler.stats.lag)
        if batches:
            return tuple(record for records in batches.values() for record in records)
        left = self.batch_timeout_ms / 1000 - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)
        return ()


def _spans(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition, the first and last offset a batch holds of it."""
    spans: dict[TopicPartition, tuple[int, int]] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first, last = spans.get(tp, (record.offset, record.offset))
        spans[tp] = (min(first, record.offset), max(last, record.offset))
    return spans


def batch_offsets(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """The offsets to commit once a batch is applied: per partition, the one after its last record in the batch."""
    return {tp: last + 1 for tp, (_, last) in _spans(records).items()}


def rewind(kafka: Any, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Seeks each partition of a failed batch back to its first record in it, so none is committed past a record
    that was not applied."""
    for tp, (first, _) in _spans(records).items():
        try:
            kafka.seek(tp, first)
        except IllegalStateError:
            pass  # no longer assigned (a rebalance): its next owner reads from the last committed offset


def note_lag(kafka: Any, batches: dict[Any, list[ConsumerRecord[Any, Any]]], lag: dict[tuple[str, int], int]) -> None:
    """A fetched partition lags its high watermark minus the offset after its last fetched record; an empty fetch
    means every assigned partition is caught up. Partitions no longer assigned are forgotten."""
    assigned = {(tp.topic, tp.partition) for tp in kafka.assignment()}
    for key in [key for key in lag if key not in assigned]:
        del lag[key]
    if not batches:
        lag.update(dict.fromkeys(assigned, 0))
        return
    for tp, records in batches.items():
        highwater = kafka.highwater(tp)
        if highwater is not None and records:
            lag[(tp.topic, tp.partition)] = max(0, highwater - records[-1].offset - 1)


class _LoggingListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs the assignment; before partitions are revoked, commits the offsets applied and still due."""

    def __init__(self, group: str, commit_due: Callable[[], Awaitable[None]]) -> None:
        self.group = group
        self.commit_due = commit_due

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            log.info("group %s: partitions revoked: %s", self.group, _names(revoked))
            await self.commit_due()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("group %s: partitions assigned: %s", self.group, _names(assigned) or "none")


def _names(tps: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps))
