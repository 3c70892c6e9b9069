"""Ceilings on the same broker and database: raw aiokafka produce→consume of 1 KB messages (acks=all,
idempotent, batching) and single-row insert+update transactions/s with asyncpg (a few connections)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from _common import KAFKA, delete_topics, raw_dsn, run_id

MESSAGES = 50_000
PARTITIONS = 6
DB_SECONDS = 8.0
DB_CONNECTIONS = 4


async def broker_ceiling(messages: int = MESSAGES) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from servicekit.kafka_config import PRODUCER_SAFETY

    prefix = f"b{run_id()}."
    topic = f"{prefix}ceiling"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    payload = os.urandom(512).hex().encode()  # 1 KB
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, **PRODUCER_SAFETY, linger_ms=5,
                                max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await producer.start()
    await consumer.start()
    try:
        await asyncio.sleep(1.0)  # metadata of the new topic
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        received = 0
        done = asyncio.Event()

        async def consume() -> None:
            nonlocal received
            while received < messages:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                received += sum(len(v) for v in batch.values())
            done.set()

        consuming = asyncio.create_task(consume())
        started = time.perf_counter()
        pending = []
        for i in range(messages):
            pending.append(await producer.send(topic, payload, key=str(i % 997).encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        produced_s = time.perf_counter() - started
        await asyncio.wait_for(done.wait(), 120)
        total_s = time.perf_counter() - started
        consuming.cancel()
    finally:
        await producer.stop()
        await consumer.stop()
        await delete_topics(prefix)
    return {"broker_msgs": messages, "broker_produce_msgs_per_s": round(messages / produced_s),
            "broker_ceiling_msgs_per_s": round(messages / total_s)}


async def db_ceiling(seconds: float = DB_SECONDS, connections: int = DB_CONNECTIONS) -> dict[str, Any]:
    import asyncpg

    schema = f"bench_{run_id()}_ceiling"
    admin = await asyncpg.connect(raw_dsn())
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'CREATE TABLE "{schema}".t (id uuid PRIMARY KEY, n int NOT NULL, body text, '
                        'updated_at timestamptz NOT NULL DEFAULT now())')
    count = 0
    try:
        pool = await asyncpg.create_pool(raw_dsn(), min_size=connections, max_size=connections)
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            async with pool.acquire() as conn:
                ins = await conn.prepare(f'INSERT INTO "{schema}".t (id, n, body) VALUES ($1, 0, $2)')
                upd = await conn.prepare(f'UPDATE "{schema}".t SET n = n + 1, updated_at = now() WHERE id = $1')
                while time.perf_counter() < stop_at:
                    key = uuid.uuid4()
                    async with conn.transaction():
                        await ins.fetch(key, "x" * 200)
                        await upd.fetch(key)
                    count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
        await pool.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    return {"db_connections": connections, "db_ceiling_tx_per_s": round(count / elapsed)}


async def run(_: dict[str, Any]) -> dict[str, Any]:
    out = await broker_ceiling()
    out.update(await db_ceiling())
    out["ceiling_leads_per_s"] = round(min(out["broker_ceiling_msgs_per_s"] / 3, out["db_ceiling_tx_per_s"] / 2))
    return out


if __name__ == "__main__":
    print(asyncio.run(run({})))
