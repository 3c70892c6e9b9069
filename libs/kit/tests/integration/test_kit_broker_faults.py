"""Reliability on the real broker: the broker SIGKILLed and restarted mid-stream, and
consumers joining and leaving the group mid-stream. Every committed event is applied exactly once (effects
are distinct per event id) and no application process is restarted.

The broker-kill test runs its own second broker (own ports and data directory), so it never disturbs the
shared one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kit_apps.counter_service import count_effects, create_tables
from kit_factories import audit_requested
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.relay import OutboxRelay, make_producer
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.testing import Database

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TESTS_DIR = Path(__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
async def engine(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(pg_database.url, schema=pg_database.schema, pool_size=20)
    await create_tables(eng)
    yield eng
    await eng.dispose()


def _consumer(db: Database, bootstrap: str, prefix: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kit_apps.counter_service", "consumer", "--db", db.url, "--schema", db.schema,
         "--bootstrap", bootstrap, "--prefix", prefix],
        cwd=TESTS_DIR, env={**os.environ, "PYTHONPATH": str(TESTS_DIR)}, stderr=subprocess.DEVNULL,
    )


async def _write_outbox(engine: AsyncEngine, prefix: str, count: int) -> set[uuid.UUID]:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    ids: set[uuid.UUID] = set()
    for start in range(0, count, 100):
        async with UnitOfWork(sessions, topic_namer=lambda name: f"{prefix}{name}") as uow:
            for i in range(start, min(start + 100, count)):
                env = audit_requested(f"d{i}.test")
                uow.add_envelope(env)
                ids.add(env.event_id)
            await uow.commit()
    return ids


async def _wait_for_effects(engine: AsyncEngine, expected: int, timeout_s: float) -> tuple[int, int]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        rows, distinct = await count_effects(engine)
        if distinct >= expected or asyncio.get_running_loop().time() > deadline:
            return rows, distinct
        await asyncio.sleep(0.25)


class Broker:
    """A second single-node broker for a destructive test."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.env = {**os.environ, "KAFKA_STATE_DIR": str(state_dir), "KAFKA_PORT": str(port),
                    "KAFKA_CONTROLLER_PORT": str(port + 1)}
        # The classpath is shared with the main broker (read-only use).
        libs = ROOT / ".local" / "kafka" / "libs"
        state_dir.mkdir(parents=True, exist_ok=True)
        if libs.exists() and not (state_dir / "libs").exists():
            (state_dir / "libs").symlink_to(libs)
            stamp = ROOT / ".local" / "kafka" / "libs.stamp"
            if stamp.exists():
                (state_dir / "libs.stamp").write_text(stamp.read_text())
        self.bootstrap = f"127.0.0.1:{port}"

    def run(self, command: str) -> None:
        subprocess.run(["bash", str(ROOT / "deploy/local/kafka.sh"), command], env=self.env, check=True,
                       capture_output=True, timeout=120)


@pytest.fixture
def second_broker(tmp_path: Path) -> Iterator[Broker]:
    from outreach_local.system import free_port

    port = free_port()
    while not _port_pair_free(port + 1):
        port = free_port()
    broker = Broker(tmp_path / "kafka2", port)
    broker.run("start")
    try:
        yield broker
    finally:
        broker.run("stop")


def _port_pair_free(port: int) -> bool:
    from outreach_local.demo_sites import port_free

    return port_free(port)


async def test_a_broker_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(
    engine: AsyncEngine, pg_database: Database, second_broker: Broker, topic_prefix: str
) -> None:
    bootstrap = second_broker.bootstrap
    await ensure_topics(bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    ids = await _write_outbox(engine, topic_prefix, 2000)
    consumer = _consumer(pg_database, bootstrap, topic_prefix)
    producer = make_producer(bootstrap, "broker-kill-relay")
    await producer.start()
    relay = OutboxRelay(engine, producer, schema=pg_database.schema, batch_size=100)
    relay_task = asyncio.create_task(relay.run())
    try:
        rows, _ = await _wait_for_effects(engine, 400, 60)
        assert rows >= 400, "the stream never got going"
        second_broker.run("kill")  # SIGKILL mid-stream
        await asyncio.sleep(1.0)
        second_broker.run("start")  # same data directory
        rows, distinct = await _wait_for_effects(engine, 2000, 120)
        assert consumer.poll() is None, "the consumer process must survive without a restart"
        assert distinct == len(ids) == 2000  # every committed (acknowledged) event applied
        assert rows == distinct  # and none twice
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, 30)
        await producer.stop()
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(30)


async def test_consumers_joining_and_leaving_mid_stream_apply_every_event_once(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    first, second = _consumer(pg_database, kafka_bootstrap, topic_prefix), _consumer(pg_database, kafka_bootstrap,
                                                                                      topic_prefix)
    consumers = [first, second]
    producer = make_producer(kafka_bootstrap, "rebalance-relay")
    await producer.start()
    relay = OutboxRelay(engine, producer, schema=pg_database.schema, batch_size=50)
    relay_task = asyncio.create_task(relay.run())
    try:
        writer = asyncio.create_task(_write_outbox(engine, topic_prefix, 3000))
        await _wait_for_effects(engine, 900, 90)
        consumers.append(_consumer(pg_database, kafka_bootstrap, topic_prefix))  # a third joins at ~30 %
        await _wait_for_effects(engine, 1800, 90)
        first.send_signal(signal.SIGTERM)  # one leaves at ~60 %
        ids = await writer
        rows, distinct = await _wait_for_effects(engine, 3000, 120)
        assert distinct == len(ids) == 3000
        assert rows == distinct
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, 30)
        await producer.stop()
        for proc in consumers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(30)
