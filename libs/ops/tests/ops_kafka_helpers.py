"""Helpers for the ops tests: a fresh prefixed topic (3 partitions, with its DLQ) on the real broker, producing
to explicit partitions, consuming as a real group member, reading committed offsets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from contracts.topics import AUDIT_FAILED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.kafka_config import PRODUCER_SAFETY


@dataclass(frozen=True)
class OpsTopic:
    bootstrap: str
    prefix: str
    name: str  # prefixed topic, 3 partitions
    dlq: str  # prefixed `<topic>.dlq`, 1 partition


@pytest.fixture
def ops_topic(kafka_bootstrap: str, topic_prefix: str) -> OpsTopic:
    asyncio.run(ensure_topics(kafka_bootstrap, [AUDIT_FAILED], prefix=topic_prefix))
    return OpsTopic(kafka_bootstrap, topic_prefix, f"{topic_prefix}{AUDIT_FAILED.name}", f"{topic_prefix}{AUDIT_FAILED.dlq}")


Header = tuple[str, bytes]


async def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes, list[Header]]]) -> None:
    """(partition, key, value, headers) each, to an explicit partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
    await producer.start()
    try:
        for partition, key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=partition)
    finally:
        await producer.stop()


async def consume_as_member(bootstrap: str, topic: str, group: str, *, quiet_ms: int = 700,
                            timeout_s: float = 20.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Joins `group`, reads from its committed offsets until nothing arrives for `quiet_ms`, commits, leaves."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not consumer.assignment() and loop.time() < deadline:
            await consumer.getmany(timeout_ms=200)
            out.extend(r for recs in (await consumer.getmany(timeout_ms=0)).values() for r in recs)
        last = loop.time()
        while loop.time() - last < quiet_ms / 1000 and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                out.extend(recs)
                last = loop.time()
        await consumer.commit()
    finally:
        await consumer.stop()
    return out


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        raw = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: om.offset for tp, om in raw.items() if tp.topic == topic}


async def live_member(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    """A started consumer that has joined `group` (stop it yourself)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not consumer.assignment():
        if loop.time() > deadline:
            raise AssertionError("the member never got an assignment")
        await consumer.getmany(timeout_ms=200)
    return consumer


def tp(topic: str, partition: int) -> TopicPartition:
    return TopicPartition(topic, partition)


