"""The kit's subscriber on the real broker: offsets are committed only after a batch was applied; a batch that
fails is fetched again from its first record; a stop waits for the batch in hand; the offsets of many small batches
go out in a few commits, and those due when partitions are revoked are committed before the next owner starts; a
lingering member gathers a trickle into few batches and still takes a backlog at once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicekit.messaging.consumer import ConsumerStats
from servicekit.messaging.kafka_config import resolve
from servicekit.messaging.subscriber import LINGER_MIN_BYTES, GroupSubscriber

pytestmark = pytest.mark.kafka

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")


class Recorder:
    """Stands in for an EventConsumer: records what each batch held; fails the batches it is told to."""

    def __init__(self, group: str, *, fail_first: int = 0, hold_s: float = 0.0) -> None:
        self.group, self.stats = group, ConsumerStats()
        self.batches: list[list[bytes]] = []
        self.fail_first, self.hold_s = fail_first, hold_s
        self.finished = 0

    async def process(self, records: Any) -> None:
        self.batches.append([record.value for record in records])
        if self.hold_s:
            await asyncio.sleep(self.hold_s)
        if len(self.batches) <= self.fail_first:
            raise RuntimeError("this batch fails")
        self.finished += 1

    def seen(self) -> list[bytes]:
        return [value for batch in self.batches for value in batch]


async def _topic(name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _publish(topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value)
        await producer.flush()
    finally:
        await producer.stop()


class CountingMember(GroupSubscriber):
    """A member that counts the commits it sends."""

    commits = 0

    async def _commit(self, kafka: Any, offsets: dict[TopicPartition, int]) -> None:
        self.commits += 1
        await super()._commit(kafka, offsets)


def _member(handler: Recorder, topic: str, **options: Any) -> CountingMember:
    return CountingMember(handler, topic=topic, bootstrap=BOOTSTRAP, security=resolve(None),  # type: ignore[arg-type]
                          max_records=100, **options)


async def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _seen_by_a_new_member(topic: str, group: str, value: bytes) -> list[bytes]:
    """Publishes `value`, then what a new member of `group` is given: `value` alone when every record before it was
    committed."""
    again = Recorder(group)
    member = _member(again, topic)
    await _publish(topic, [value])
    await member.start()
    try:
        await _until(lambda: again.finished >= 1)
        await asyncio.sleep(0.3)
    finally:
        await member.stop()
    return again.seen()


async def test_a_failed_batch_is_fetched_again_and_only_applied_records_are_committed(topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}subscriber-retry", f"{topic_prefix}subscriber-retry.group"
    await _topic(topic)
    values = [f"r{i}".encode() for i in range(5)]
    await _publish(topic, values)
    handler = Recorder(group, fail_first=1)
    member = _member(handler, topic)
    await member.start()
    try:
        await _until(lambda: handler.finished >= 1)
    finally:
        await member.stop()
    assert handler.batches[0] == values and handler.seen()[-5:] == values  # the failed batch came back whole

    # A new member of the group starts after the last applied record: nothing is delivered again.
    assert await _seen_by_a_new_member(topic, group, b"later") == [b"later"]


async def test_stop_lets_the_batch_in_hand_finish_and_commit(topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}subscriber-stop", f"{topic_prefix}subscriber-stop.group"
    await _topic(topic)
    await _publish(topic, [b"a", b"b"])
    handler = Recorder(group, hold_s=1.0)
    member = _member(handler, topic)
    await member.start()
    await _until(lambda: len(handler.batches) == 1)
    await member.stop()  # while the batch is being applied
    assert handler.finished == 1 and member.consumer is None

    assert await _seen_by_a_new_member(topic, group, b"c") == [b"c"]  # a and b were committed by the stopped member


async def test_a_busy_member_commits_the_offsets_of_many_small_batches_in_a_few_requests(topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}subscriber-due", f"{topic_prefix}subscriber-due.group"
    await _topic(topic)
    handler = Recorder(group)
    member = _member(handler, topic)  # commit_interval_ms=100, the default
    await member.start()
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    values = [f"s{i}".encode() for i in range(150)]
    try:
        await _until(lambda: member.consumer is not None and bool(member.consumer.assignment()))
        for value in values:  # one record every ~10 ms: batches of a record or two, as at 50 leads/s
            await (await producer.send(topic, value))
            await asyncio.sleep(0.01)
        await _until(lambda: len(handler.seen()) >= len(values))
        await asyncio.sleep(0.3)  # caught up: the last due offsets go out after an empty fetch
    finally:
        await producer.stop()
        await member.stop()
    assert handler.seen() == values
    batches, commits = len(handler.batches), member.commits
    assert batches >= 50, batches  # the test made small batches, or it shows nothing
    assert commits * 3 <= batches, (commits, batches)

    # everything applied was committed: a new member gets only what comes next
    assert await _seen_by_a_new_member(topic, group, b"next") == [b"next"]


async def test_offsets_due_when_partitions_are_revoked_are_committed_before_the_next_owner_starts(
        topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}subscriber-revoke", f"{topic_prefix}subscriber-revoke.group"
    await _topic(topic, partitions=2)
    await _publish(topic, [f"a{i}".encode() for i in range(40)])
    release = asyncio.Event()

    class HoldThird(Recorder):
        async def process(self, records: Any) -> None:
            await super().process(records)
            if len(self.batches) == 3:
                await release.wait()  # busy with a batch: no empty fetch commits what is due meanwhile

    # The first batch is committed at once (no commit yet); then an interval no test waits for: only the revocation
    # (or the stop) can commit the second batch's offsets.
    holder = HoldThird(group)
    one = _member(holder, topic, commit_interval_ms=600_000)
    one.max_records = 5
    await one.start()
    await _until(lambda: len(holder.batches) == 3)
    applied = set(holder.batches[0] + holder.batches[1])
    assert one.commits == 1

    joiner = Recorder(group)
    two = _member(joiner, topic, commit_interval_ms=600_000)
    await two.start()
    try:
        await _until(lambda: one.commits >= 2)  # the rebalance revoked one's partitions: its due offsets went out
        release.set()
        await _until(lambda: bool(two.consumer and two.consumer.assignment()) and joiner.finished >= 1)
        await asyncio.sleep(1.0)
        # the third batch was in hand during the rebalance: it may come again (at-least-once); the first two may not
        assert not set(joiner.seen()) & applied, sorted(set(joiner.seen()) & applied)
    finally:
        release.set()
        await two.stop()
        await one.stop()


async def test_a_lingering_member_gathers_a_trickle_into_few_batches(topic_prefix: str) -> None:
    """`linger_ms`: the broker holds a fetch until more has arrived or the linger is over. Two groups read the same
    trickle (a record every ~10 ms): the member that answers at once makes a batch per record or two; the lingering
    one gathers each ~250 ms into one batch, and is behind by about the linger at most."""
    topic = f"{topic_prefix}subscriber-linger"
    await _topic(topic)
    at_once, lingering = Recorder(f"{topic}.at-once"), Recorder(f"{topic}.lingering")
    members = [_member(at_once, topic), _member(lingering, topic, linger_ms=250)]
    for member in members:
        await member.start()
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    values = [f"t{i}".encode() for i in range(80)]
    try:
        await _until(lambda: all(m.consumer is not None and bool(m.consumer.assignment()) for m in members))
        for value in values:
            await (await producer.send(topic, value))
            await asyncio.sleep(0.01)
        sent = time.monotonic()
        await _until(lambda: len(lingering.seen()) >= len(values))
        behind = time.monotonic() - sent
        await _until(lambda: len(at_once.seen()) >= len(values))
    finally:
        await producer.stop()
        for member in members:
            await member.stop()
    assert lingering.seen() == values and at_once.seen() == values
    assert len(at_once.batches) >= 25, len(at_once.batches)  # the trickle made small batches, or it shows nothing
    assert len(lingering.batches) * 3 <= len(at_once.batches), (len(lingering.batches), len(at_once.batches))
    assert behind < 0.25 + 1.0, behind


async def test_a_backlog_is_not_held_back_by_the_linger(topic_prefix: str) -> None:
    """A backlog of more than `LINGER_MIN_BYTES` is answered at once, however long the linger."""
    topic = f"{topic_prefix}subscriber-linger-backlog"
    await _topic(topic)
    values = [f"b{i:04d}".encode() + b"x" * 2000 for i in range(300)]  # ~600 KB
    assert sum(map(len, values)) > LINGER_MIN_BYTES
    await _publish(topic, values)
    handler = Recorder(f"{topic}.group")
    member = _member(handler, topic, linger_ms=10_000)
    await member.start()
    try:
        await _until(lambda: member.consumer is not None and bool(member.consumer.assignment()))
        assigned = time.monotonic()
        await _until(lambda: len(handler.seen()) >= len(values), timeout_s=20)
        took = time.monotonic() - assigned
    finally:
        await member.stop()
    assert handler.seen() == values
    assert took < 5.0, took  # far below the 10 s linger
