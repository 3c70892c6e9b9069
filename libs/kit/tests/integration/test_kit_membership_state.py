"""The watchdog reads aiokafka's private subscription state (servicekit.messaging.membership_watchdog.rejoining); this pins
that reading to the installed aiokafka on the real broker: a member is joining while its group rebalances and
settled after it, and a member the group gives no partition (two members, one partition) is settled too."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicekit.messaging.membership_watchdog import rejoining

pytestmark = pytest.mark.kafka

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")


async def _settled(consumers: list[AIOKafkaConsumer], poll: list[AIOKafkaConsumer],
                   timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(rejoining(c) for c in consumers) or sum(len(c.assignment()) for c in consumers) != 1:
        assert time.monotonic() < deadline, "the group did not settle"
        for c in poll:  # a member is polled as a service polls it (one poller per consumer)
            await c.getmany(timeout_ms=50)
        await asyncio.sleep(0.05)


async def test_joining_then_settled_and_an_idle_member_is_settled(topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}membership", f"{topic_prefix}membership.group"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    first = AIOKafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, session_timeout_ms=10_000)
    second = AIOKafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, session_timeout_ms=10_000)
    await first.start()  # returns once this first member's join is done
    try:
        assert not rejoining(first) and len(first.assignment()) == 1
        seen: list[bool] = []

        async def watch_first() -> None:
            while True:
                seen.append(rejoining(first))
                await first.getmany(timeout_ms=10)

        watcher = asyncio.create_task(watch_first())
        await second.start()  # the group rebalances: the first member has to join again
        try:
            await _settled([first, second], poll=[second])  # the watcher polls the first
            watcher.cancel()
            assert any(seen) and not rejoining(first)  # joining during the rebalance, settled after it
            idle = first if not first.assignment() else second
            assert idle.assignment() == set() and not rejoining(idle)  # an idle member is not a stall
        finally:
            watcher.cancel()
            await second.stop()
    finally:
        await first.stop()


async def test_a_replaced_subscriber_consumes_again_as_a_new_member(topic_prefix: str) -> None:
    """What the watchdog does to a stalled member (stop, start) leaves the kit's subscriber consuming, under a new
    member id, from the offsets the old member committed."""
    from aiokafka import AIOKafkaProducer

    from servicekit.messaging.consumer import ConsumerStats
    from servicekit.messaging.kafka_config import resolve
    from servicekit.messaging.membership_watchdog import MembershipWatchdog
    from servicekit.messaging.subscriber import GroupSubscriber

    topic, group = f"{topic_prefix}membership-restart", f"{topic_prefix}membership-restart.group"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    got: list[bytes] = []

    class Recorder:
        def __init__(self) -> None:
            self.group, self.stats = group, ConsumerStats()

        async def process(self, records: Any) -> None:
            got.extend(record.value for record in records)

    subscriber = GroupSubscriber(Recorder(), topic=topic, bootstrap=BOOTSTRAP,  # type: ignore[arg-type]
                                 security=resolve(None))
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    await subscriber.start()
    try:
        await producer.send_and_wait(topic, b"before")
        await _until(lambda: got == [b"before"])
        member = subscriber.consumer._coordinator.member_id  # type: ignore[union-attr]
        watchdog = MembershipWatchdog([subscriber], stall_after_s=0)
        await watchdog._restart(subscriber, stalled_s=0)
        await producer.send_and_wait(topic, b"after")
        await _until(lambda: got == [b"before", b"after"])
        assert subscriber.consumer._coordinator.member_id != member  # type: ignore[union-attr]
    finally:
        await subscriber.stop()
        await producer.stop()


async def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
