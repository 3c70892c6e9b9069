"""Inbox dedupe, commit-after-effect, and poison → DLQ on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kit_apps.counter_service import build_consumer, count_effects
from kit_factories import audit_requested, record_of
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.envelope import DLQ_HEADER_ERROR_CLASS, DLQ_HEADER_OFFSET, DLQ_HEADER_PARTITION, DLQ_HEADER_TOPIC
from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.broker import create_broker
from servicekit.messaging.events import encode
from servicekit.messaging.guard import broker_violations
from servicekit.messaging.subscriber import subscribe
from servicekit.testing import Database, publish_raw, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TESTS_DIR = Path(__file__).resolve().parents[1]


async def _wait_for(predicate, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_the_same_event_delivered_twice_has_one_effect(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    envs = [audit_requested(f"dup{i}.test") for i in range(20)]
    # Every event twice, the duplicates far apart so they land in different batches too.
    await publish_raw(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", [record_of(e) for e in envs + envs])
    broker = create_broker(kafka_bootstrap, client_id="dup-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    subscribe(broker, consumer, topic_name=f"{topic_prefix}{AUDIT_REQUESTED.name}", max_records=7)
    async with broker:
        await broker.start()

        async def done() -> bool:
            return consumer.stats.applied + consumer.stats.duplicates >= 40

        await _wait_for(done)
    assert await count_effects(engine) == (20, 20)
    assert consumer.stats.applied == 20
    assert consumer.stats.duplicates == 20


def _spawn_consumer(db: Database, bootstrap: str, prefix: str, crash_marker: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kit_apps.counter_service", "consumer", "--db", db.url, "--schema", db.schema,
         "--bootstrap", bootstrap, "--prefix", prefix, "--crash-after-effect", str(crash_marker)],
        cwd=TESTS_DIR,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
        stderr=subprocess.DEVNULL,
    )


async def test_a_consumer_killed_between_effect_and_offset_commit_applies_the_effect_once(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    env = audit_requested("crash.test")
    await publish_raw(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", [record_of(env)])
    marker = tmp_path / "crash-once"
    marker.touch()
    proc = _spawn_consumer(pg_database, kafka_bootstrap, topic_prefix, marker)
    try:
        assert proc.wait(60) == -signal.SIGKILL  # it committed the effect, then died before the offset commit
    finally:
        if proc.poll() is None:
            proc.kill()
    assert await count_effects(engine) == (1, 1)
    # Restarted: the record is delivered again (its offset was never committed) and the inbox skips it.
    proc = _spawn_consumer(pg_database, kafka_bootstrap, topic_prefix, marker)
    try:
        extra = audit_requested("after-restart.test")
        await publish_raw(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", [record_of(extra)])

        async def both_applied() -> bool:
            return (await count_effects(engine))[1] == 2

        await _wait_for(both_applied, 60)
        await asyncio.sleep(1.0)
        assert await count_effects(engine) == (2, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


async def test_poison_records_go_to_the_dlq_once_with_origin_headers_and_the_partition_keeps_flowing(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    topic = f"{topic_prefix}{AUDIT_REQUESTED.name}"
    lead = uuid.uuid4()  # one lead, so one key: everything on one partition, poison in between good records
    key = str(lead).encode()
    good = [audit_requested(f"ok{i}.test", lead) for i in range(30)]
    wrong_schema = json.loads(encode(audit_requested(lead_id=lead)))
    wrong_schema["data"]["requested_at"] = "yesterday"
    unknown = json.loads(encode(audit_requested(lead_id=lead)))
    unknown["event_type"] = "NotAnEvent"
    permanent = audit_requested("permanent-failure.test", lead)  # decodes, but the handler can never apply it
    poison = [
        (key, b"\x00\x01 garbage", []),
        (key, json.dumps(wrong_schema).encode(), []),
        (key, json.dumps(unknown).encode(), []),
        (key, encode(permanent), []),
    ]
    stream = [(key, encode(e), []) for e in good[:10]] + poison[:2] + [(key, encode(e), []) for e in good[10:20]]
    stream += poison[2:] + [(key, encode(e), []) for e in good[20:]]
    await publish_raw(kafka_bootstrap, topic, stream)

    broker = create_broker(kafka_bootstrap, client_id="poison-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    subscribe(broker, consumer, topic_name=topic, max_records=16)
    async with broker:
        await broker.start()

        async def drained() -> bool:
            return consumer.stats.applied >= 30 and consumer.stats.parked >= 4

        await _wait_for(drained)
        await asyncio.sleep(0.5)
    assert await count_effects(engine) == (30, 30)
    dlq = await read_topic(kafka_bootstrap, f"{topic}.dlq", expected=5, timeout_s=5)
    assert len(dlq) == 4
    assert sorted(r.value for r in dlq) == sorted(v for _, v, _ in poison)
    for record in dlq:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers[DLQ_HEADER_TOPIC] == topic
        assert headers[DLQ_HEADER_PARTITION].isdigit()
        assert headers[DLQ_HEADER_OFFSET].isdigit()
        assert headers[DLQ_HEADER_ERROR_CLASS] in {"PoisonMessage", "ValueError"}
    assert len({r.headers[[k for k, _ in r.headers].index(DLQ_HEADER_OFFSET)][1] for r in dlq}) == 4


async def test_configured_brokers_have_no_ack_first_subscriber_and_a_safe_producer(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    from servicekit.messaging.kafka_config import PRODUCER_SAFETY
    from servicekit.messaging.relay import make_producer

    broker = create_broker(kafka_bootstrap, client_id="guard")
    subscribe(broker, build_consumer(engine, broker, topic_prefix, None), topic_name="x")
    assert_safe_broker(broker)
    # The kit's subscriber is no FastStream subscriber; its member commits only what it applied (no auto commit).
    [member] = broker.kit_subscribers
    assert broker.subscribers == [] and member.group_id == f"{topic_prefix}counter.on_audit_requested"
    kafka = member._member()
    try:
        assert kafka._enable_auto_commit is False and kafka._group_id == member.group_id
    finally:
        await kafka.stop()
    producer = make_producer(kafka_bootstrap, "guard-relay")
    # aiokafka builds a transaction manager only for an idempotent producer, and stores acks=all as -1.
    assert producer._txn_manager is not None
    assert producer._sender._acks == -1
    assert PRODUCER_SAFETY == {"acks": "all", "enable_idempotence": True}


def test_guard_flags_an_ack_first_subscriber_and_an_unsafe_producer() -> None:
    from faststream.kafka import KafkaBroker
    from faststream.middlewares import AckPolicy

    unsafe = KafkaBroker("127.0.0.1:1", acks=1)

    @unsafe.subscriber("t", group_id="g", ack_policy=AckPolicy.ACK_FIRST)
    async def handler(body: bytes) -> None:
        return None

    problems = broker_violations(unsafe)
    assert any("acks=1" in p for p in problems)
    assert any("not idempotent" in p for p in problems)
    assert any("acknowledges before handling" in p for p in problems)


def assert_safe_broker(broker) -> None:  # type: ignore[no-untyped-def]
    assert broker_violations(broker) == []
