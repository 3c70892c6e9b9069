"""A deadlock or a serialization failure is transient for every service's consumers (the kit retries the batch),
shown with real PostgreSQL errors, not a stand-in; other database errors stay permanent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from servicekit.process.db import create_engine
from servicekit.process.errors import is_transient
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def rows(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE pair (id int PRIMARY KEY, n int NOT NULL)"))
        await conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    yield engine
    await engine.dispose()


async def _update(conn: AsyncConnection, row: int) -> None:
    await conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :id"), {"id": row})


async def test_a_deadlock_is_transient(rows: AsyncEngine) -> None:
    both_locked = asyncio.Barrier(2)

    async def cross(first: int, second: int) -> BaseException | None:
        async with rows.connect() as conn:
            await conn.begin()
            await _update(conn, first)
            await both_locked.wait()
            try:
                await _update(conn, second)  # each waits for the other's row: PostgreSQL breaks the cycle
            except DBAPIError as exc:
                return exc
            await conn.commit()
            return None

    outcomes = await asyncio.gather(cross(1, 2), cross(2, 1))
    errors = [e for e in outcomes if e is not None]
    assert len(errors) == 1, outcomes
    assert getattr(errors[0].orig, "sqlstate", None) == "40P01"  # type: ignore[union-attr]
    assert is_transient(errors[0])


async def test_a_serialization_failure_is_transient(rows: AsyncEngine) -> None:
    async with rows.connect() as first, rows.connect() as second:
        await first.execute(text("BEGIN ISOLATION LEVEL REPEATABLE READ"))
        await first.execute(text("SELECT n FROM pair WHERE id = 1"))  # takes the snapshot
        await _update(second, 1)
        await second.commit()
        with pytest.raises(DBAPIError) as caught:
            await _update(first, 1)  # the row changed after the snapshot
    assert getattr(caught.value.orig, "sqlstate", None) == "40001"
    assert is_transient(caught.value)


async def test_a_constraint_violation_is_permanent(rows: AsyncEngine) -> None:
    async with rows.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text("INSERT INTO pair VALUES (1, 0)"))
    assert not is_transient(caught.value)
