"""`servicekit.process.bulk.unnest_insert` on PostgreSQL: every column type the kit's tables use round-trips, conflicts
are skipped (also within one statement) and only inserted keys are returned, and the folded NOTIFY reaches a
listener once per committed transaction — never for a rolled-back one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from servicekit.process.bulk import unnest_insert
from servicekit.process.db import create_engine, tls_needless
from servicekit.process.tables import inbox, kit_metadata, outbox
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]


async def _tables(db: Database) -> AsyncEngine:
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
    return engine


def _outbox_row(n: int) -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "event_type": "LeadUpserted", "topic": "t", "msg_key": None if n % 2 else f"k{n}",
            "headers": {"event_id": str(n), "traceparent": "00-x"}, "payload": bytes([0, n % 256, 255]) + b"{}",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)}


async def test_rows_of_every_column_type_round_trip(pg_database: Database) -> None:
    engine = await _tables(pg_database)
    rows = [_outbox_row(n) for n in range(257)]
    try:
        async with async_sessionmaker(engine)() as session:
            await unnest_insert(session, outbox, rows)
            await session.commit()
            stored = (await session.execute(select(outbox).order_by(outbox.c.id))).mappings().all()
    finally:
        await engine.dispose()
    assert [{k: r[k] for k in rows[0]} for r in stored] == rows
    assert all(r["sent_at"] is None for r in stored)


async def test_conflicts_are_skipped_and_only_new_keys_returned(pg_database: Database) -> None:
    engine = await _tables(pg_database)
    now = datetime.now(UTC)
    old, new = uuid.uuid4(), uuid.uuid4()

    def claim(event_id: uuid.UUID) -> dict[str, object]:
        return {"consumer_group": "g", "event_id": event_id, "event_type": "X", "processed_at": now}

    try:
        async with async_sessionmaker(engine)() as session:
            first = await unnest_insert(session, inbox, [claim(old)],
                                        on_conflict_do_nothing=("consumer_group", "event_id"), returning="event_id")
            second = await unnest_insert(session, inbox, [claim(old), claim(new), claim(new)],
                                         on_conflict_do_nothing=("consumer_group", "event_id"), returning="event_id")
            await session.commit()
            count = len((await session.execute(select(inbox))).all())
    finally:
        await engine.dispose()
    assert first == [old]
    assert second == [new]  # the stored one and the repeat within the statement are both skipped
    assert count == 2


async def test_the_folded_notify_fires_once_per_commit_and_never_on_rollback(pg_database: Database) -> None:
    engine = await _tables(pg_database)
    url = make_url(pg_database.url)
    listener = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                                     ssl=False if tls_needless(pg_database.url) else None)
    heard: list[str] = []
    channel = f"outbox_{pg_database.schema}"
    await listener.add_listener(channel, lambda *args: heard.append(args[2]))
    try:
        async with async_sessionmaker(engine)() as session:
            await unnest_insert(session, outbox, [_outbox_row(1), _outbox_row(2)], notify_channel=channel)
            await unnest_insert(session, outbox, [_outbox_row(3)], notify_channel=channel)
            await session.commit()
            await unnest_insert(session, outbox, [_outbox_row(4)], notify_channel=channel)
            await session.rollback()
        await asyncio.sleep(0.3)
    finally:
        await listener.close()
        await engine.dispose()
    assert heard == [channel]


async def test_a_naive_datetime_is_refused(pg_database: Database) -> None:
    engine = await _tables(pg_database)
    row = _outbox_row(1) | {"created_at": datetime(2026, 1, 1)}
    try:
        async with async_sessionmaker(engine)() as session:
            with pytest.raises(ValueError, match="naive"):
                await unnest_insert(session, outbox, [row])
    finally:
        await engine.dispose()
