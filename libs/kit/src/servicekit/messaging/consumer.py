"""Kafka consumers with explicit delivery semantics (fed by the kit's subscribers, `servicekit.messaging.subscriber`).

For each batch: undecodable records, and records that contradict their envelope (key, headers; see
`servicekit.messaging.events.check_record`), go to the DLQ; the rest are applied in ONE transaction in which each
event is first recorded in the inbox (a duplicate is skipped) and then handled. The offsets are committed
(the subscriber's ack policy: commit after `process` returns) only after that transaction commits. If the batch
fails, it is replayed record by record: transient faults are retried with jittered backoff within a time
budget, anything else (or an exhausted budget) dead-letters that record only, so a poison message never
blocks its partition and is never dropped. An exception that escapes (e.g. the DLQ itself is unreachable)
fails the batch: the subscriber seeks back and the records are delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.envelope import Envelope
from contracts.topics import TopicSpec
from servicekit.messaging.dlq import DlqPublish, park
from servicekit.messaging.events import (
    Decoded,
    PoisonMessage,
    RecordSource,
    decode_body,
    decode_record_envelope,
    header_dict,
    header_event_id_text,
    payload_digest,
    record_digest,
)
from servicekit.messaging.retry import backoff_delays
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.errors import is_transient
from servicekit.process.logging import log_context
from servicekit.process.metrics import REGISTRY, record_conflicting_duplicate
from servicekit.process.tracing import continued_span

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)
# A handler of one event, called inside the batch's transaction (`each` calls it for every new event in order).
Handler = Callable[[Decoded, U], Awaitable[None]]


@dataclass(frozen=True)
class batch_handler(Generic[U]):  # lower case: used as a decorator
    """Marks a handler of a batch's new (non-duplicate) events at once, in order, inside the batch's transaction:
    e.g. locking every row the batch touches in one sorted statement, or applying the events set-wise with a few
    multi-row statements; `consuming(item)` opens each event's consume span and log context.
    `runtime.add_consumer` takes either kind; without the mark a handler takes one event (`Handler`)."""

    handle: Callable[[Sequence[Decoded], U], Awaitable[None]]

    async def __call__(self, items: Sequence[Decoded], uow: U, /) -> None:
        await self.handle(items, uow)


def each(handle: Handler[U]) -> batch_handler[U]:
    """The batch handler calling `handle` for every event in order, each inside its consume span."""

    async def handle_each(items: Sequence[Decoded], uow: U) -> None:
        for item in items:
            with consuming(item):
                await handle(item, uow)

    return batch_handler(handle_each)


def as_batch_handler(handle: Handler[U] | batch_handler[U]) -> batch_handler[U]:
    return handle if isinstance(handle, batch_handler) else each(handle)


@contextmanager
def consuming(item: Decoded) -> Iterator[None]:
    """The consume span of one event (continuing the trace its record's headers carry) and its log context."""
    env, source = item.envelope, item.source
    with continued_span(f"consume {env.event_type}", source.headers if source else {}, kind=SpanKind.CONSUMER,
                        group=source.group if source else "", topic=source.topic if source else ""), \
            log_context(event_id=env.event_id, event_type=env.event_type, lead_id=env.lead_id,
                        correlation_id=env.correlation_id):
        yield


@dataclass
class ConsumerStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    transient_retries: int = 0
    batch_fallbacks: int = 0
    conflicts: int = 0  # records whose event id was already applied with another payload (parked)
    # Records behind the last fetched position, per assigned (topic, partition), from the fetch responses'
    # high watermarks: the lag measured once, by the member that owns the partition (no broker calls).
    lag: dict[tuple[str, int], int] = field(default_factory=dict)


class ConflictingPayload(Exception):
    """A record reuses the event id of an applied event but carries another payload."""


_CONFLICT = ConflictingPayload(
    "event_id reused with a different payload; the first payload was applied, this one is rejected")


@dataclass(eq=False)  # identity: the live-consumer set holds each instance once
class EventConsumer(Generic[U]):
    """Applies records of one topic for one consumer group through `handle`."""

    group: str
    topic: TopicSpec
    handle: batch_handler[U]
    uow_factory: Callable[[], U]
    dlq_topic: str
    dlq_publish: DlqPublish
    transient_budget_s: float = 600.0
    expected_types: frozenset[str] | None = None
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    # Whether the next batch first looks its records up in the inbox (`_skip_records_applied_before`).
    _look_up_first: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if self.expected_types is None:
            self.expected_types = frozenset({self.topic.event_type})
        _LIVE_CONSUMERS.add(self)

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        self.stats.batches += 1
        pending = [(record, record_digest(record.key, record.value, record.headers)) for record in records]
        if self._look_up_first:
            pending = await self._skip_records_applied_before(pending)
        decoded: list[tuple[ConsumerRecord[Any, Any], Envelope, str]] = []
        for record, fingerprint in pending:
            try:
                decoded.append((record, decode_record_envelope(record.value, record.key, record.headers,
                                                               expected_types=self.expected_types), fingerprint))
            except PoisonMessage as exc:
                await self._park(record, exc)
        if not decoded:
            return
        if len(decoded) > 1:
            try:
                await self._apply(decoded)
                return
            except Exception:
                self.stats.batch_fallbacks += 1
                log.warning("batch failed; replaying it record by record", exc_info=True)
        for item in decoded:
            await self._apply_one(item)

    async def _skip_records_applied_before(
        self, pending: list[tuple[ConsumerRecord[Any, Any], str]],
    ) -> list[tuple[ConsumerRecord[Any, Any], str]]:
        """Replays at ops speed: the records this group applied before, found by the event id their headers state
        and the digest of the whole record stored with the claim, are skipped without being decoded (the same
        record gets the same verdict). One read per batch, made only while batches keep meeting duplicates (after
        a start, a rebalance, a replay); a batch of new events turns it off, a duplicate found later turns it on."""
        ids = [header_event_id_text(record.headers) for record, _ in pending]
        wanted = [event_id for event_id in ids if event_id is not None]
        if not wanted:
            return pending
        async with self.uow_factory() as uow:
            stored = await uow.inbox_record_digests(self.group, wanted)
        left = []
        for (record, fingerprint), event_id in zip(pending, ids, strict=True):
            if event_id is not None and stored.get(event_id) == fingerprint:
                self.stats.duplicates += 1
            else:
                left.append((record, fingerprint))
        self._look_up_first = len(left) < len(pending)
        return left

    async def _apply(self, items: Sequence[tuple[ConsumerRecord[Any, Any], Envelope, str]]) -> None:
        """One transaction: the batch's claims (and, when some event was claimed before, the stored digests of
        those); the bodies of the new events only are validated (a replay of applied events skips that), then
        they are handled."""
        applied = duplicates = 0
        rejected: list[tuple[ConsumerRecord[Any, Any], BaseException]] = []
        async with self.uow_factory() as uow:
            item_digests = [payload_digest(envelope) for _, envelope, _ in items]
            digests: dict[UUID, str] = {}
            record_digests: dict[UUID, str] = {}
            for (_, envelope, fingerprint), digest in zip(items, item_digests, strict=True):
                digests.setdefault(envelope.event_id, digest)  # the first occurrence is the one claimed
                record_digests.setdefault(envelope.event_id, fingerprint)
            # One inbox statement for a batch of new events; an id seen twice in the batch is handled once.
            fresh, known = await uow.claim_inbox_batch(
                self.group, [(envelope.event_id, envelope.event_type) for _, envelope, _ in items], digests,
                record_digests)
            todo: list[Decoded] = []
            unhandleable: dict[UUID, PoisonMessage] = {}
            for (record, envelope, _), digest in zip(items, item_digests, strict=True):
                event_id = envelope.event_id
                if event_id in fresh:
                    fresh.discard(event_id)
                    try:
                        todo.append(decode_body(envelope, RecordSource(record.topic, self.group,
                                                                       header_dict(record.headers))))
                    except PoisonMessage as invalid_body:
                        unhandleable[event_id] = invalid_body
                        rejected.append((record, invalid_body))
                elif event_id in unhandleable and digest == digests[event_id]:
                    rejected.append((record, unhandleable[event_id]))  # each copy of a poison record is parked
                elif event_id in known:
                    stored = known[event_id]
                    if stored is None or stored == digest:
                        duplicates += 1
                    else:
                        rejected.append((record, _CONFLICT))
                elif digest != digests[event_id]:
                    rejected.append((record, _CONFLICT))  # the id was reused for another payload: never applied
                else:
                    # Repeated in the batch. (Or, in theory, claimed and taken back by another member between the
                    # claim and the lookup: that member parks the record, which it found unhandleable.)
                    duplicates += 1
            await uow.unclaim_inbox(self.group, list(unhandleable))
            if todo:
                await self.handle(todo, uow)
                applied = len(todo)
            await uow.commit()
        self.stats.applied += applied
        self.stats.duplicates += duplicates
        if duplicates:
            self._look_up_first = True
        for record, reason in rejected:  # after the commit: a batch that is retried does not park them twice
            if reason is _CONFLICT:
                self.stats.conflicts += 1
                record_conflicting_duplicate(self.group)
            await self._park(record, reason)

    async def _apply_one(self, item: tuple[ConsumerRecord[Any, Any], Envelope, str]) -> None:
        record = item[0]
        deadline = time.monotonic() + self.transient_budget_s
        delays = backoff_delays()
        while True:
            try:
                await self._apply([item])
                return
            except Exception as exc:
                if is_transient(exc) and time.monotonic() < deadline:
                    self.stats.transient_retries += 1
                    delay = next(delays)
                    log.warning("transient failure, retrying in %.2fs: %s", delay, exc.__class__.__name__)
                    await asyncio.sleep(delay)
                    continue
                await self._park(record, exc)
                return

    async def _park(self, record: ConsumerRecord[Any, Any], exc: BaseException) -> None:
        await park(record, dlq_topic=self.dlq_topic, group=self.group, error=exc, publish=self.dlq_publish)
        self.stats.parked += 1


def broker_dlq_publisher(broker: KafkaBroker) -> DlqPublish:
    async def publish(value: bytes, topic: str, key: bytes | None, headers: dict[str, str]) -> None:
        await broker.publish(value, topic=topic, key=key, headers=headers)

    return publish


_LIVE_CONSUMERS: weakref.WeakSet[EventConsumer[Any]] = weakref.WeakSet()


class ConsumerMetrics(Collector):
    """The counters of every live `EventConsumer` of the process, read from their `ConsumerStats` when scraped
    (nothing is counted twice on the hot path): records applied / duplicate / parked, transient retries, batch
    fallbacks, and the lag of the partitions each one owns."""

    def collect(self) -> Iterable[Metric]:
        records = CounterMetricFamily("consumer_records", "Records handled by outcome.", labels=["group", "outcome"])
        batches = CounterMetricFamily("consumer_batches", "Batches handled.", labels=["group"])
        retries = CounterMetricFamily("consumer_transient_retries", "Transient failures retried.", labels=["group"])
        fallbacks = CounterMetricFamily("consumer_batch_fallbacks", "Batches replayed record by record.",
                                        labels=["group"])
        lag = GaugeMetricFamily("kafka_consumer_group_lag", "Records behind the high watermark, per partition, as "
                                "seen by the member that owns it.", labels=["group", "topic", "partition"])
        for consumer in list(_LIVE_CONSUMERS):
            group, stats = consumer.group, consumer.stats
            for outcome, value in (("applied", stats.applied), ("duplicate", stats.duplicates),
                                   ("parked", stats.parked)):
                records.add_metric([group, outcome], value)
            batches.add_metric([group], stats.batches)
            retries.add_metric([group], stats.transient_retries)
            fallbacks.add_metric([group], stats.batch_fallbacks)
            for (topic, partition), behind in list(stats.lag.items()):
                lag.add_metric([group, topic, str(partition)], behind)
        return [records, batches, retries, fallbacks, lag]


REGISTRY.register(ConsumerMetrics())
