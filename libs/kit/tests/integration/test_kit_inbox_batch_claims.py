"""The consumer's inbox round trip: one statement claims a batch and returns the claims that were already there
(with their digests), and only the events claimed now have their bodies validated. A record whose body is
invalid is parked and leaves no claim behind, so it is parked again if it comes again, while the valid records
around it are applied once and then skipped as duplicates. On PostgreSQL and SQLite, and on the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from kit_apps.counter_service import build_consumer, count_effects, create_tables
from kit_factories import audit_requested
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.envelope import DLQ_HEADER_ERROR_CLASS, Envelope
from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging import consumer as consumer_module
from servicekit.messaging.broker import create_broker
from servicekit.messaging.events import encode, headers_for, kafka_headers, payload_digest
from servicekit.messaging.subscriber import subscribe
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import inbox
from servicekit.testing import Database, publish_raw, read_topic


@pytest.fixture
async def sqlite_engine(sqlite_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(sqlite_database.url)
    await create_tables(eng)
    yield eng
    await eng.dispose()


def _bad_body(env: Envelope) -> Envelope:
    data = dict(env.data)
    del data["domain"]  # a required field of AuditRequested
    return env.model_copy(update={"event_id": uuid.uuid4(), "data": data})


@pytest.mark.postgres
async def test_one_claim_returns_what_is_new_and_what_was_there_on_postgres(engine: AsyncEngine) -> None:
    await _claims(engine)


async def test_one_claim_returns_what_is_new_and_what_was_there_on_sqlite(sqlite_engine: AsyncEngine) -> None:
    await _claims(sqlite_engine)


async def _claims(any_engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(any_engine, class_=AsyncSession, expire_on_commit=False)
    a, b, c, legacy = (audit_requested(f"claim{i}.test") for i in range(4))
    digest = {e.event_id: payload_digest(e) for e in (a, b, c)}
    async with UnitOfWork(sessions) as uow:
        fresh, known = await uow.claim_inbox_batch("g", [(a.event_id, a.event_type), (b.event_id, b.event_type)],
                                                   digest)
        assert (fresh, known) == ({a.event_id, b.event_id}, {})
        assert await uow.claim_inbox("g", legacy.event_id, legacy.event_type)  # stored without a digest
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        events = [(a.event_id, a.event_type), (c.event_id, c.event_type), (legacy.event_id, legacy.event_type),
                  (c.event_id, c.event_type)]  # c twice: claimed once
        fresh, known = await uow.claim_inbox_batch("g", events, digest)
        assert fresh == {c.event_id}
        assert known == {a.event_id: digest[a.event_id], legacy.event_id: None}
        # Another group has claimed nothing.
        fresh_other, known_other = await uow.claim_inbox_batch("h", [(a.event_id, a.event_type)], digest)
        assert (fresh_other, known_other) == ({a.event_id}, {})
        await uow.unclaim_inbox("g", [c.event_id])
        await uow.commit()
    async with any_engine.connect() as conn:
        rows = {tuple(row) for row in await conn.execute(select(inbox.c.consumer_group, inbox.c.event_id))}
    assert rows == {("g", a.event_id), ("g", b.event_id), ("g", legacy.event_id), ("h", a.event_id)}


@pytest.mark.kafka
@pytest.mark.postgres
async def test_an_invalid_body_is_parked_without_a_claim_and_its_neighbours_apply_once(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}{AUDIT_REQUESTED.name}"
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    lead = uuid.uuid4()  # one key: one partition, one batch, in order
    valid = [audit_requested(f"around{i}.test", lead) for i in range(6)]
    invalid = _bad_body(valid[0])
    key = str(lead).encode()
    once = [(key, encode(e), []) for e in [*valid[:3], invalid, *valid[3:]]]
    await publish_raw(kafka_bootstrap, topic, [*once, *once])  # the whole stream, then all of it again

    broker = create_broker(kafka_bootstrap, client_id="inbox-batch-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    subscribe(broker, consumer, topic_name=topic, max_records=50)
    async with broker:
        await broker.start()
        deadline = asyncio.get_running_loop().time() + 30
        while consumer.stats.applied + consumer.stats.duplicates + consumer.stats.parked < 2 * len(once):
            assert asyncio.get_running_loop().time() < deadline, consumer.stats
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)

    assert (consumer.stats.applied, consumer.stats.duplicates, consumer.stats.parked) == (6, 6, 2)
    assert await count_effects(engine) == (6, 6)
    async with engine.connect() as conn:
        claimed = set((await conn.execute(select(inbox.c.event_id).where(
            inbox.c.consumer_group == consumer.group))).scalars())
        total = (await conn.execute(select(func.count()).select_from(inbox))).scalar_one()
    assert claimed == {e.event_id for e in valid} and total == 6
    dlq = await read_topic(kafka_bootstrap, f"{topic}.dlq", expected=2, timeout_s=5)
    assert [r.value for r in dlq] == [encode(invalid), encode(invalid)]
    assert {dict(r.headers)[DLQ_HEADER_ERROR_CLASS] for r in dlq} == {b"PoisonMessage"}


@pytest.mark.kafka
@pytest.mark.postgres
async def test_records_applied_before_are_skipped_undecoded_and_anything_else_is_judged_in_full(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"{topic_prefix}{AUDIT_REQUESTED.name}"
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    lead = uuid.uuid4()
    key = str(lead).encode()
    events = [audit_requested(f"replayed{i}.test", lead) for i in range(40)]
    records = [(key, encode(e), kafka_headers(headers_for(e))) for e in events]
    decoded: list[bytes] = []
    real = consumer_module.decode_record_envelope

    def counting(value: bytes | None, *args: object, **kwargs: object) -> Envelope:
        decoded.append(value or b"")
        return real(value, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(consumer_module, "decode_record_envelope", counting)
    broker = create_broker(kafka_bootstrap, client_id="inbox-replay-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    subscribe(broker, consumer, topic_name=topic, max_records=50)

    async def settle(total: int) -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while consumer.stats.applied + consumer.stats.duplicates + consumer.stats.parked < total:
            assert asyncio.get_running_loop().time() < deadline, consumer.stats
            await asyncio.sleep(0.05)

    async with broker:
        await broker.start()
        await publish_raw(kafka_bootstrap, topic, records)
        await settle(40)
        assert (consumer.stats.applied, len(decoded)) == (40, 40)
        # The same 40 records again (a replay): skipped. After a run of new events the consumer stopped looking
        # records up first, so the replay's first batch takes the full path and turns the lookup back on.
        await publish_raw(kafka_bootstrap, topic, records)
        await settle(80)
        first_replay_decoded = len(decoded) - 40
        assert consumer.stats.duplicates == 40 and first_replay_decoded < 40
        # And again, the lookup on: none decoded.
        await publish_raw(kafka_bootstrap, topic, records)
        await settle(120)
        assert (consumer.stats.duplicates, len(decoded)) == (80, 40 + first_replay_decoded)
        # The same events as other records: another trace header (a duplicate, found by its payload digest),
        # and another key (what the full path parks): each decoded and judged as the full path would.
        traced = [(key, encode(e), [*kafka_headers(headers_for(e)), ("traceparent", b"00-x")]) for e in events[:5]]
        rekeyed = [(str(uuid.uuid4()).encode(), encode(e), kafka_headers(headers_for(e))) for e in events[5:8]]
        await publish_raw(kafka_bootstrap, topic, [*traced, *rekeyed])
        await settle(128)
        await asyncio.sleep(0.3)

    assert (consumer.stats.applied, consumer.stats.duplicates, consumer.stats.parked) == (40, 85, 3)
    assert len(decoded) == 40 + first_replay_decoded + 8
    assert await count_effects(engine) == (40, 40)
