"""The DLQ age on the real broker: the age of the oldest record not redriven yet (from its broker timestamp), as
`DlqSummary.oldest_pending_age_s`, the gauge `kafka_dlq_oldest_pending_age_seconds` and `outreach-ops dlq list`;
it follows the redrive cursor (records redriven, offsets handled past a left-behind one) and is 0 with none pending."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.structs import OffsetAndMetadata
from ops_kafka_helpers import OpsTopic, tp
from prometheus_client.core import Metric
from typer.testing import CliRunner

from contracts.envelope import DLQ_HEADER_ERROR_CLASS, DLQ_HEADER_TOPIC
from contracts.topics import DAY_MS
from outreach_ops.cli import app
from outreach_ops.dlq import redrive
from servicekit.messaging.dlq_depth import (
    DlqSummary,
    _first_pending_timestamps,
    _Pending,
    dlq_depths,
    encode_done,
    list_dlqs,
    redrive_group,
)
from servicekit.messaging.kafka_admin import offsets_consumer
from servicekit.messaging.kafka_config import PRODUCER_SAFETY
from servicekit.web.metrics import dlq_depth_probe

pytestmark = pytest.mark.kafka

HOUR_MS = 60 * 60 * 1000
# The age is computed on this machine's clock against the broker timestamps the test chose: generous for a slow
# CI round trip, far below the day-sized steps between the records.
TOLERANCE_S = 5.0


async def _park(bootstrap: str, dlq: str, origin: str, records: list[tuple[int, str, int]]) -> None:
    """(partition, error class, timestamp ms) each: a dead-lettered record with an explicit (old) timestamp."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
    await producer.start()
    try:
        for i, (partition, error_class, timestamp_ms) in enumerate(records):
            headers = [(DLQ_HEADER_TOPIC, origin.encode()), (DLQ_HEADER_ERROR_CLASS, error_class.encode())]
            await producer.send_and_wait(dlq, value=f"bad-{i}".encode(), key=f"k{i}".encode(), headers=headers,
                                         partition=partition, timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def _summary(t: OpsTopic, dlq: str | None = None) -> DlqSummary:
    [summary] = await dlq_depths(t.bootstrap, [dlq or t.dlq])
    return summary


def _assert_age(summary: DlqSummary, timestamp_ms: int) -> None:
    age = summary.oldest_pending_age_s()
    assert age is not None and summary.age_known
    expected = (time.time() * 1000 - timestamp_ms) / 1000
    assert abs(age - expected) < TOLERANCE_S, (age, expected)


def _gauge(metrics: list[Metric], name: str, topic: str) -> float | None:
    for family in metrics:
        for sample in family.samples:
            if sample.name == name and sample.labels == {"topic": topic}:
                return float(sample.value)
    return None


async def test_age_follows_the_redrive_cursor_to_the_next_pending_record_and_is_0_when_none_is_left(
    ops_topic: OpsTopic,
) -> None:
    now = int(time.time() * 1000)
    ts = [now - 10 * DAY_MS, now - 5 * DAY_MS, now - 1 * DAY_MS]
    await _park(ops_topic.bootstrap, ops_topic.dlq, ops_topic.name,
                [(0, "PoisonMessage", ts[0]), (0, "OperationalError", ts[1]), (0, "PoisonMessage", ts[2])])

    first = await _summary(ops_topic)
    assert (first.depth, first.pending, first.oldest_pending_ms) == (3, 3, ts[0])
    _assert_age(first, ts[0])
    assert 10 * 86400 - TOLERANCE_S < (first.oldest_pending_age_s() or 0) < 10 * 86400 + TOLERANCE_S

    # Offsets 0 and 2 redriven, 1 left behind: the cursor stays at 1, the oldest pending is now 5 days old.
    poison = await redrive(ops_topic.bootstrap, ops_topic.dlq, only_error_class="PoisonMessage")
    assert [e.offset for e in poison.redriven] == [0, 2]
    second = await _summary(ops_topic)
    assert (second.pending, second.oldest_pending_ms) == (1, ts[1])
    _assert_age(second, ts[1])

    rest = await redrive(ops_topic.bootstrap, ops_topic.dlq)
    assert [e.offset for e in rest.redriven] == [1]
    empty = await _summary(ops_topic)
    assert (empty.depth, empty.pending, empty.oldest_pending_ms, empty.age_known) == (3, 0, None, True)
    assert empty.oldest_pending_age_s() == 0.0


async def test_offsets_handled_past_the_cursor_are_skipped(ops_topic: OpsTopic) -> None:
    """A cursor whose metadata lists handled offsets at and after its position (what a filtered redrive leaves
    past a record it skipped): the age is the first offset not listed, not the cursor's own record."""
    now = int(time.time() * 1000)
    ts = [now - 20 * DAY_MS, now - 15 * DAY_MS, now - 3 * DAY_MS, now - 2 * DAY_MS]
    await _park(ops_topic.bootstrap, ops_topic.dlq, ops_topic.name, [(0, "X", t) for t in ts])
    async with offsets_consumer(ops_topic.bootstrap, group_id=redrive_group(ops_topic.dlq)) as committer:
        committer.assign([tp(ops_topic.dlq, 0)])
        await committer.commit({tp(ops_topic.dlq, 0): OffsetAndMetadata(0, encode_done({0, 1}))})
    summary = await _summary(ops_topic)
    assert (summary.pending, summary.oldest_pending_ms) == (2, ts[2])
    _assert_age(summary, ts[2])


async def test_the_oldest_of_several_partitions_counts_and_the_probe_exports_it(ops_topic: OpsTopic) -> None:
    """Only partitions with pending records are read; the gauge is the oldest over them; an empty or missing
    DLQ reads 0."""
    dlq = f"{ops_topic.prefix}multi.dlq"
    admin = AIOKafkaAdminClient(bootstrap_servers=ops_topic.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dlq, 3, 1)])
    finally:
        await admin.close()
    now = int(time.time() * 1000)
    p0, p1 = now - 2 * HOUR_MS, now - 30 * HOUR_MS
    await _park(ops_topic.bootstrap, dlq, ops_topic.name,
                [(0, "X", p0), (1, "X", now - 40 * HOUR_MS), (1, "X", p1), (2, "X", now - 50 * HOUR_MS)])
    async with offsets_consumer(ops_topic.bootstrap, group_id=redrive_group(dlq)) as committer:
        committer.assign([tp(dlq, 1), tp(dlq, 2)])  # p1's oldest and all of p2 redriven
        await committer.commit({tp(dlq, 1): OffsetAndMetadata(1, ""), tp(dlq, 2): OffsetAndMetadata(1, "")})

    summary = await _summary(ops_topic, dlq)
    assert (summary.depth, summary.pending, summary.oldest_pending_ms) == (4, 2, p1)
    _assert_age(summary, p1)

    missing = f"{ops_topic.prefix}never-created.dlq"
    metrics = await dlq_depth_probe(ops_topic.bootstrap, [dlq, ops_topic.dlq, missing])()
    age = _gauge(metrics, "kafka_dlq_oldest_pending_age_seconds", dlq)
    assert age is not None and abs(age - (time.time() * 1000 - p1) / 1000) < TOLERANCE_S
    assert _gauge(metrics, "kafka_dlq_oldest_pending_age_seconds", ops_topic.dlq) == 0.0
    assert _gauge(metrics, "kafka_dlq_oldest_pending_age_seconds", missing) == 0.0
    assert _gauge(metrics, "kafka_dlq_not_redriven", dlq) == 2


async def test_an_unreadable_age_is_unknown_and_absent_from_the_gauge_while_the_depths_stand(
    ops_topic: OpsTopic,
) -> None:
    """A read that cannot finish in time (here: no time at all) reports the age unknown, never 0."""
    await _park(ops_topic.bootstrap, ops_topic.dlq, ops_topic.name, [(0, "X", int(time.time() * 1000) - DAY_MS)])
    [summary] = await dlq_depths(ops_topic.bootstrap, [ops_topic.dlq], age_timeout_s=0.0)
    assert (summary.pending, summary.age_known, summary.oldest_pending_age_s()) == (1, False, None)


async def test_a_refused_read_leaves_the_age_unknown_instead_of_failing(caplog: pytest.LogCaptureFixture) -> None:
    """What a service user without Read on its DLQ gets: the fetch is refused; logged, the age unknown."""

    class RefusingConsumer:
        def assign(self, _tps: object) -> None: ...
        def seek(self, _tp: object, _offset: int) -> None: ...

        async def getmany(self, *_tps: object, timeout_ms: int) -> dict[object, list[object]]:
            raise TopicAuthorizationFailedError("dlq")

    pending = {tp("x.dlq", 0): _Pending(cursor=4, end=9, done=frozenset({4, 5})),
               tp("x.dlq", 1): _Pending(cursor=2, end=4, done=frozenset({2, 3}))}
    stamps = await _first_pending_timestamps(RefusingConsumer(), pending, timeout_s=1.0)
    assert stamps == {tp("x.dlq", 1): None}  # every offset of partition 1 handled: known, nothing pending there
    assert "could not read the oldest pending DLQ records: TopicAuthorizationFailedError" in caplog.text


def test_cli_dlq_list_shows_the_age_of_the_oldest_record_not_redriven(ops_topic: OpsTopic) -> None:
    now = int(time.time() * 1000)
    asyncio.run(_park(ops_topic.bootstrap, ops_topic.dlq, ops_topic.name,
                      [(0, "X", now - (3 * DAY_MS + 4 * HOUR_MS + 60_000)), (0, "X", now - HOUR_MS)]))
    listed = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "dlq", "list"])
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.output.splitlines() if ops_topic.dlq in line]
    assert "oldest not redriven" in listed.output
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [ops_topic.dlq, "2", "2", "3d 4h"], row
    [summary] = asyncio.run(list_dlqs(ops_topic.bootstrap, prefix=ops_topic.prefix))
    assert summary.oldest_pending_ms == now - (3 * DAY_MS + 4 * HOUR_MS + 60_000)
