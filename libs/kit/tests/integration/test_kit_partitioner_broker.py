"""On the real broker: the relay's producer (servicekit.messaging.kafka_config.producer_options, with the native
murmur2 partitioner) puts every lead's records on the partition a producer with aiokafka's own default partitioner
puts them on."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servicekit.messaging.kafka_config import producer_options

pytestmark = pytest.mark.kafka

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
PARTITIONS = 12


async def _partitions_of(topic: str, keys: list[bytes], options: dict[str, object]) -> dict[bytes, int]:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **options)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=b"v") for key in keys]
        return {key: (await future).partition for key, future in zip(keys, futures, strict=True)}
    finally:
        await producer.stop()


async def test_the_kit_producer_partitions_as_aiokafkas_default() -> None:
    run = uuid.uuid4().hex[:10]
    kit_topic, default_topic = f"partitioner-kit-{run}", f"partitioner-default-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (kit_topic, default_topic)])
        keys = [str(uuid.uuid4()).encode() for _ in range(300)]
        kit = await _partitions_of(kit_topic, keys, producer_options("partitioner-test"))
        default = await _partitions_of(default_topic, keys, {"acks": "all"})
        assert kit == default
        assert len(set(kit.values())) == PARTITIONS  # 300 keys spread over every partition
        # And the broker stored them there: a record read back from each partition is where the send said.
        consumer = AIOKafkaConsumer(kit_topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            seen: dict[bytes, int] = {}
            deadline = time.monotonic() + 30
            while len(seen) < len(keys) and time.monotonic() < deadline:
                for tp, records in (await consumer.getmany(timeout_ms=2000)).items():
                    seen.update({record.key: tp.partition for record in records})
        finally:
            await consumer.stop()
        assert seen == kit
    finally:
        await admin.delete_topics([kit_topic, default_topic])
        await admin.close()
