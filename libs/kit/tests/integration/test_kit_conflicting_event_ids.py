"""A reused event id (duplicate delivery): re-published records with the same event id and
the same payload are duplicates (one effect); the same id with ANOTHER payload is rejected — parked in the DLQ
and counted — never applied. On the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from kit_apps.counter_service import build_consumer, count_effects, create_tables
from kit_factories import audit_requested
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.envelope import DLQ_HEADER_ERROR_CLASS, Envelope
from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.broker import create_broker
from servicekit.messaging.events import encode, payload_digest
from servicekit.messaging.subscriber import subscribe
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.metrics import CONFLICTING_DUPLICATES
from servicekit.testing import Database, publish_raw, read_topic

TESTS_DIR = Path(__file__).resolve().parents[1]


def _other_payload(env: Envelope) -> Envelope:
    data = dict(env.data)
    data["domain"] = f"other-{data['domain']}"
    return env.model_copy(update={"data": data})


@pytest.mark.kafka
@pytest.mark.postgres
async def test_same_id_same_payload_is_a_duplicate_and_another_payload_is_rejected(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}{AUDIT_REQUESTED.name}"
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    lead = uuid.uuid4()  # one lead, so one key: one partition, in order
    originals = [audit_requested(f"orig{i}.test", lead) for i in range(200)]
    same = originals[:18]  # 9 % re-published unchanged
    conflicting = [_other_payload(e) for e in originals[18:20]]  # 1 % with the same id, another payload
    pair_original = audit_requested("pair.test", lead)
    pair_conflict = _other_payload(pair_original)  # right behind its original: the same batch
    key = str(lead).encode()
    stream = [(key, encode(e), []) for e in [*originals, *same, *conflicting, pair_original, pair_conflict]]
    await publish_raw(kafka_bootstrap, topic, stream)
    group_label = f"{topic_prefix}counter.on_audit_requested"
    before = CONFLICTING_DUPLICATES.labels(group=group_label)._value.get()

    broker = create_broker(kafka_bootstrap, client_id="conflict-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    assert consumer.group == group_label
    subscribe(broker, consumer, topic_name=topic, max_records=50)
    async with broker:
        await broker.start()
        deadline = asyncio.get_running_loop().time() + 30
        while consumer.stats.applied + consumer.stats.duplicates + consumer.stats.conflicts < len(stream):
            assert asyncio.get_running_loop().time() < deadline, consumer.stats
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)

    assert (consumer.stats.applied, consumer.stats.duplicates, consumer.stats.conflicts) == (201, 18, 3)
    assert await count_effects(engine) == (201, 201)  # every id once, with its FIRST payload
    assert CONFLICTING_DUPLICATES.labels(group=group_label)._value.get() - before == 3
    dlq = await read_topic(kafka_bootstrap, f"{topic}.dlq", expected=4, timeout_s=5)
    assert sorted(r.value for r in dlq) == sorted(encode(e) for e in [*conflicting, pair_conflict])
    for record in dlq:
        assert dict(record.headers)[DLQ_HEADER_ERROR_CLASS] == b"ConflictingPayload"


async def test_claims_stored_without_a_digest_never_conflict(sqlite_database: Database) -> None:
    engine = create_engine(sqlite_database.url)
    await create_tables(engine)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    env = audit_requested("legacy.test")
    other = _other_payload(env)
    new_id = uuid.uuid4()
    try:
        async with UnitOfWork(sessions) as uow:
            assert await uow.claim_inbox("g", env.event_id, env.event_type)  # as before kit tables v2
            assert await uow.claim_inbox("g", new_id, env.event_type, digest=payload_digest(env))
            await uow.commit()
        claims = [(env.event_id, env.event_type), (new_id, env.event_type)]
        digests = {env.event_id: payload_digest(other), new_id: payload_digest(other)}
        async with UnitOfWork(sessions) as uow:
            # The consumer compares what is stored: None (a claim from before v2) is a duplicate, never a conflict.
            assert await uow.claim_inbox_batch("g", claims, digests) == (
                set(), {env.event_id: None, new_id: payload_digest(env)})
        async with UnitOfWork(sessions) as uow:
            assert await uow.claim_inbox_batch("other-group", claims, digests) == ({env.event_id, new_id}, {})
    finally:
        await engine.dispose()


def test_the_digest_covers_type_version_and_body_only() -> None:
    env = audit_requested("digest.test")
    redelivered = env.model_copy(update={"occurred_at": env.occurred_at, "correlation_id": uuid.uuid4()})
    assert payload_digest(redelivered) == payload_digest(env)
    assert payload_digest(_other_payload(env)) != payload_digest(env)
    assert payload_digest(env.model_copy(update={"event_version": env.event_version + 1})) != payload_digest(env)
