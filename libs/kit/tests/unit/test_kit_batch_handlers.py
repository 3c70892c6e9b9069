"""The two handler shapes of a consumer (one event; the batch's events at once) and `uow.after_commit`, on a
SQLite inbox: what a handler is given, when, and inside which transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from kit_factories import audit_requested, record_of
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import Envelope
from contracts.topics import AUDIT_REQUESTED
from servicekit.messaging.consumer import EventConsumer, as_batch_handler, batch_handler
from servicekit.messaging.events import Decoded
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import kit_metadata
from servicekit.testing import Database

GROUP = "kit.batch-handlers"


@pytest.fixture
async def sessions(sqlite_database: Database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_database.url)
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
    yield async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    await engine.dispose()


def records(envelopes: Sequence[Envelope]) -> list[ConsumerRecord[Any, Any]]:
    out = []
    for offset, env in enumerate(envelopes):
        key, value, headers = record_of(env)
        assert value is not None
        out.append(ConsumerRecord(topic=AUDIT_REQUESTED.name, partition=0, offset=offset, timestamp=0,
                                  timestamp_type=0, key=key, value=value, checksum=None,
                                  serialized_key_size=len(key or b""), serialized_value_size=len(value),
                                  headers=tuple(headers)))
    return out


async def _park(value: bytes, topic: str, key: bytes | None, headers: dict[str, str]) -> None:
    raise AssertionError(f"nothing here is poison, yet {headers} was parked")


def consumer(handle: Any, sessions: async_sessionmaker[AsyncSession]) -> EventConsumer[UnitOfWork]:
    return EventConsumer(group=GROUP, topic=AUDIT_REQUESTED, handle=as_batch_handler(handle),
                         uow_factory=lambda: UnitOfWork(sessions), dlq_topic="dlq", dlq_publish=_park)


async def test_a_batch_handler_gets_the_new_events_of_a_batch_once_in_order_with_their_source(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    calls: list[list[Decoded]] = []

    @batch_handler
    async def handle(items: Sequence[Decoded], uow: UnitOfWork) -> None:
        calls.append(list(items))

    first, second, third = audit_requested(), audit_requested(), audit_requested()
    c = consumer(handle, sessions)
    await c.process(records([first, second]))
    await c.process(records([first, third, second, third]))  # a redelivery, a new one repeated in the batch

    assert [[item.envelope.event_id for item in call] for call in calls] == [
        [first.event_id, second.event_id], [third.event_id]]
    source = calls[0][0].source
    assert source is not None and (source.topic, source.group) == (AUDIT_REQUESTED.name, GROUP)
    assert source.headers["ce_id"] == str(first.event_id)
    assert (c.stats.applied, c.stats.duplicates) == (3, 3)


async def test_a_handler_of_one_event_is_called_for_each_new_event_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seen: list[Envelope] = []

    async def handle(item: Decoded, uow: UnitOfWork) -> None:
        seen.append(item.envelope)

    envelopes = [audit_requested() for _ in range(4)]
    await consumer(handle, sessions).process(records(envelopes))
    assert [e.event_id for e in seen] == [e.event_id for e in envelopes]


async def test_after_commit_callbacks_run_once_the_transaction_committed_and_never_after_a_rollback(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rang: list[str] = []
    async with UnitOfWork(sessions) as uow:
        uow.after_commit(lambda: rang.append("rolled back"))
        await uow.rollback()
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        uow.after_commit(lambda: rang.append("left without commit"))
    async with UnitOfWork(sessions) as uow:
        uow.after_commit(lambda: rang.append("committed"))
        assert rang == []
        await uow.commit()
        await uow.commit()  # once only
    assert rang == ["committed"]
