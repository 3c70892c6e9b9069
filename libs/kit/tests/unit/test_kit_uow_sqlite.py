import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer
from kit_apps.counter_service import create_tables, effects
from kit_factories import audit_requested
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.messaging.relay import OutboxRelay
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import inbox, outbox
from servicekit.testing import Database


@pytest.fixture
async def engine(sqlite_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(sqlite_database.url)
    await create_tables(eng)
    yield eng
    await eng.dispose()


async def _count(engine: AsyncEngine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_outbox_rows_commit_with_the_effect_and_vanish_on_rollback(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    env = audit_requested()
    async with UnitOfWork(sessions) as uow:
        await uow.session.execute(effects.insert().values(event_id=env.event_id, lead_id=env.lead_id, domain="a"))
        uow.add_envelope(env)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        await uow.session.execute(effects.insert().values(event_id=env.event_id, lead_id=env.lead_id, domain="b"))
        uow.add_envelope(audit_requested())
        # leaving without commit rolls back both
    assert await _count(engine, effects) == 1
    assert await _count(engine, outbox) == 1


async def test_inbox_claim_is_true_once_per_group(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    env = audit_requested()
    async with UnitOfWork(sessions) as uow:
        assert await uow.claim_inbox("g1", env.event_id, env.event_type) is True
        assert await uow.claim_inbox("g1", env.event_id, env.event_type) is False
        assert await uow.claim_inbox("g2", env.event_id, env.event_type) is True
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert await uow.claim_inbox("g1", env.event_id, env.event_type) is False
    assert await _count(engine, inbox) == 2


async def test_the_outbox_refuses_what_every_consumer_would_park(engine: AsyncEngine) -> None:
    from contracts.envelope import MAX_RECORD_BYTES

    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    env = audit_requested()
    huge = env.model_copy(update={"data": {**env.data, "requested_by": "x" * MAX_RECORD_BYTES}})
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(ValueError, match="is not the lead id"):
            uow.add_envelope(env, key="another-key")
        with pytest.raises(ValueError, match="over the 1,000,000-byte record limit"):
            uow.add_envelope(huge)
        uow.add_envelope(env, key=str(env.lead_id))
        await uow.commit()
    assert await _count(engine, outbox) == 1


class Acknowledging:
    """A producer whose every send is acknowledged at once; keeps what it was given, in order."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, *, value: bytes, key: bytes | None, headers: object) -> asyncio.Future[None]:
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.mark.parametrize("keep_s", [0, 3600])
async def test_the_relay_on_sqlite_deletes_or_marks_what_it_published(engine: AsyncEngine, keep_s: int) -> None:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    envs = [audit_requested() for _ in range(5)]
    async with UnitOfWork(sessions) as uow:
        for env in envs:
            uow.add_envelope(env)
        await uow.commit()
    producer = Acknowledging()
    relay = OutboxRelay(engine, cast(AIOKafkaProducer, producer), batch_size=3, keep_sent=timedelta(seconds=keep_s))
    assert [await relay.publish_once() for _ in range(3)] == [3, 2, 0]
    assert [json.loads(v)["event_id"] for v in producer.sent] == [str(e.event_id) for e in envs]
    async with engine.connect() as conn:
        left = (await conn.execute(select(outbox.c.sent_at))).scalars().all()
    assert (len(left), all(left)) == ((5, True) if keep_s else (0, True))
