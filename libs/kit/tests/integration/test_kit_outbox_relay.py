"""Outbox atomicity and the relay under late commits and SIGKILL, on PostgreSQL + Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from kit_apps.counter_service import count_effects, create_tables, effects
from kit_factories import audit_requested
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.relay import OutboxRelay, make_producer
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import outbox
from servicekit.testing import Database, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
async def engine(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(pg_database.url, schema=pg_database.schema, pool_size=25)
    await create_tables(eng)
    yield eng
    await eng.dispose()


class Boom(Exception):
    pass


async def test_outbox_rows_equal_committed_transitions_when_10_percent_roll_back(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    rng = random.Random(7)
    committed: set[uuid.UUID] = set()
    for i in range(1000):
        env = audit_requested(f"d{i}.test")
        fail = rng.random() < 0.10
        try:
            async with UnitOfWork(sessions) as uow:
                await uow.session.execute(effects.insert().values(event_id=env.event_id, lead_id=env.lead_id, domain="x"))
                uow.add_envelope(env)
                await uow.flush_outbox()
                if fail:
                    raise Boom  # after the domain write and the outbox write, before commit
                await uow.commit()
            committed.add(env.event_id)
        except Boom:
            pass
    async with engine.connect() as conn:
        ids = {row[0] for row in await conn.execute(select(outbox.c.event_id))}
    rows, _ = await count_effects(engine)
    assert 850 <= len(committed) <= 950
    assert ids == committed
    assert rows == len(committed)


def _spawn_relay(db: Database, bootstrap: str, keep_sent_s: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kit_apps.counter_service", "relay", "--db", db.url, "--schema", db.schema,
         "--bootstrap", bootstrap, "--keep-sent-s", str(keep_sent_s)],
        cwd=TESTS_DIR,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
    )


# The relay's two ways of leaving a published row: deleted in the claim (the default) or marked sent and kept.
KEEP_SENT = pytest.mark.parametrize("keep_sent_s", [0.0, 86_400.0], ids=["deleted", "kept"])


@KEEP_SENT
async def test_every_committed_row_reaches_the_topic_despite_late_commits_and_relay_kills(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topic_prefix: str, keep_sent_s: float
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    topic = f"{topic_prefix}{AUDIT_REQUESTED.name}"
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    committed: set[uuid.UUID] = set()
    rng = random.Random(11)

    async def writer(n: int) -> None:
        for i in range(25):
            env = audit_requested(f"w{n}-{i}.test")
            async with UnitOfWork(sessions, topic_namer=lambda name: f"{topic_prefix}{name}") as uow:
                uow.add_envelope(env)
                await uow.flush_outbox()  # the id is allocated now...
                if n % 4 == 0:
                    await asyncio.sleep(rng.uniform(0.2, 0.8))  # ...but commits after rows with higher ids
                await uow.commit()
            committed.add(env.event_id)
            await asyncio.sleep(rng.uniform(0, 0.03))

    relay = _spawn_relay(pg_database, kafka_bootstrap, keep_sent_s)
    writers = asyncio.gather(*(writer(n) for n in range(20)))
    try:
        for _ in range(3):
            await asyncio.sleep(0.7)
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
            relay = _spawn_relay(pg_database, kafka_bootstrap, keep_sent_s)
        await writers
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            async with engine.connect() as conn:
                unsent = (await conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))).scalar_one()
            if unsent == 0:
                break
            await asyncio.sleep(0.2)
        assert unsent == 0
        assert await _rows_left(engine) == (500 if keep_sent_s else 0)  # kept and marked sent, or deleted
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(20)

    records = await read_topic(kafka_bootstrap, topic, expected=len(committed) + 10_000, timeout_s=8)
    seen = [uuid.UUID(json.loads(r.value)["event_id"]) for r in records]
    assert len(committed) == 500
    lost = committed - set(seen)
    assert lost == set(), f"{len(lost)} committed rows never reached the topic"
    # At-least-once: a kill between publish and the commit of the delete (or mark) may republish a few.
    assert len(seen) - len(set(seen)) <= 3 * 50


@KEEP_SENT
async def test_relay_publishes_in_commit_order_per_lead_then_deletes_or_marks_the_rows(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topic_prefix: str, keep_sent_s: float
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    lead = uuid.uuid4()
    envs = [audit_requested(f"step{i}.test", lead_id=lead) for i in range(30)]
    for env in envs:
        async with UnitOfWork(sessions, topic_namer=lambda name: f"{topic_prefix}{name}") as uow:
            uow.add_envelope(env)
            await uow.commit()
    producer = make_producer(kafka_bootstrap, "relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(engine, producer, schema=pg_database.schema, batch_size=7,
                            keep_sent=timedelta(seconds=keep_sent_s))
        published = 0
        while (n := await relay.publish_once()) > 0:
            published += n
    finally:
        await producer.stop()
    assert published == 30
    records = await read_topic(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", expected=30)
    assert [json.loads(r.value)["event_id"] for r in records] == [str(e.event_id) for e in envs]
    assert {r.key for r in records} == {str(lead).encode()}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.event_id, outbox.c.sent_at))).all()
    if keep_sent_s:
        assert {r.event_id for r in rows} == {e.event_id for e in envs} and all(r.sent_at for r in rows)
    else:
        assert rows == []


class FailsOnThird:
    """A producer whose third send fails, after two records of the batch went out: the cycle's transaction must
    roll back, so the rows it deleted (or would mark) are there again for the next cycle."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self.real, self.sends = real, 0

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        self.sends += 1
        if self.sends == 3:
            raise KafkaConnectionError("the broker went away mid-batch")
        future: asyncio.Future[Any] = await self.real.send(*args, **kwargs)
        return future


@KEEP_SENT
async def test_a_send_that_fails_mid_batch_leaves_every_row_of_the_batch_to_publish_again(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topic_prefix: str, keep_sent_s: float
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    envs = [audit_requested(f"fail{i}.test") for i in range(5)]
    async with UnitOfWork(sessions, topic_namer=lambda name: f"{topic_prefix}{name}") as uow:
        for env in envs:
            uow.add_envelope(env)
        await uow.commit()
    producer = make_producer(kafka_bootstrap, "relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(engine, cast(AIOKafkaProducer, FailsOnThird(producer)), schema=pg_database.schema,
                            keep_sent=timedelta(seconds=keep_sent_s))
        with pytest.raises(KafkaConnectionError):
            await relay.publish_once()
        async with engine.connect() as conn:
            unsent = (await conn.execute(select(outbox.c.event_id).where(outbox.c.sent_at.is_(None)))).scalars().all()
        assert set(unsent) == {e.event_id for e in envs}
        assert await relay.publish_once() == 5
        assert await relay.publish_once() == 0
    finally:
        await producer.stop()
    records = await read_topic(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", expected=7)
    seen = [json.loads(r.value)["event_id"] for r in records]
    # The two sent before the failure went out twice (at-least-once); every row once more after it.
    assert len(seen) == 7 and set(seen) == {str(e.event_id) for e in envs}
    assert await _rows_left(engine) == (5 if keep_sent_s else 0)


async def _rows_left(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


async def test_relay_recovers_when_the_server_ends_its_connection(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The relay talks to its pooled connection's asyncpg driver directly: a connection the server ended must
    leave the pool (invalidated), not fail every cycle after it."""
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1)
    await create_tables(engine)
    prefix = f"{topic_prefix}recover."  # a topic of its own: the other tests publish to the module's
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=prefix)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def commit_one() -> str:
        env = audit_requested("recover.test")
        async with UnitOfWork(sessions, topic_namer=lambda name: f"{prefix}{name}") as uow:
            uow.add_envelope(env)
            await uow.commit()
        return str(env.event_id)

    producer = make_producer(kafka_bootstrap, "relay-test")
    await producer.start()
    try:
        relay = OutboxRelay(engine, producer, schema=pg_database.schema)
        first = await commit_one()
        assert await relay.publish_once() == 1
        async with engine.connect() as conn:  # the pool's one connection: the relay's
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
        other = create_engine(pg_database.url, pool_size=1)
        try:
            async with other.connect() as conn:
                await conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")  # waits for its end
        finally:
            await other.dispose()
        with pytest.raises(Exception):  # noqa: B017 - asyncpg's error for a closed connection varies by where it fails
            await relay.publish_once()
        second = await commit_one()  # a fresh connection from the pool
        assert await relay.publish_once() == 1
    finally:
        await producer.stop()
        await engine.dispose()
    records = await read_topic(kafka_bootstrap, f"{prefix}{AUDIT_REQUESTED.name}", expected=2)
    # Two leads, two keys: the records may sit on different partitions, so their order across them is not given.
    assert sorted(json.loads(r.value)["event_id"] for r in records) == sorted([first, second])
