"""The kit's subscriber on the real broker: offsets are committed only after a batch was applied; a batch that
fails is fetched again from its first record; a stop waits for the batch in hand."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicekit.messaging.consumer import ConsumerStats
from servicekit.messaging.kafka_config import resolve
from servicekit.messaging.subscriber import GroupSubscriber

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


async def _topic(name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
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


def _member(handler: Recorder, topic: str) -> GroupSubscriber:
    return GroupSubscriber(handler, topic=topic, bootstrap=BOOTSTRAP, security=resolve(None),  # type: ignore[arg-type]
                           max_records=100)


async def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


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
    await _publish(topic, [b"later"])
    again = Recorder(group)
    member = _member(again, topic)
    await member.start()
    try:
        await _until(lambda: again.finished >= 1)
        await asyncio.sleep(0.3)
    finally:
        await member.stop()
    assert again.seen() == [b"later"]


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

    again = Recorder(group)
    member = _member(again, topic)
    await _publish(topic, [b"c"])
    await member.start()
    try:
        await _until(lambda: again.finished >= 1)
        await asyncio.sleep(0.3)
    finally:
        await member.stop()
    assert again.seen() == [b"c"]  # a and b were committed by the stopped member
