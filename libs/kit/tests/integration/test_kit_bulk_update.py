"""`servicekit.process.bulk.unnest_update` / `bulk_update` / `flush_changed_rows`: many rows changed by ONE statement on
PostgreSQL, the same rows as the ORM's own flush (compared on twin schemas), and the portable path on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Boolean, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.process.bulk import bulk_update, flush_changed_rows, unnest_update
from servicekit.process.db import JsonType, UTCDateTime, create_engine
from servicekit.testing import Database, sent_statements

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData()


class Item(Base):
    __tablename__ = "items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n: Mapped[int] = mapped_column(Integer, default=0)
    flag: Mapped[bool | None] = mapped_column(Boolean)


class Pair(Base):
    __tablename__ = "pairs"

    a: Mapped[str] = mapped_column(String(10), primary_key=True)
    b: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(50))


ITEMS: Table = Item.__table__  # type: ignore[assignment]
PAIRS: Table = Pair.__table__  # type: ignore[assignment]
IDS = [uuid.UUID(int=i + 1) for i in range(6)]


async def _engine(db: Database) -> AsyncEngine:
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine)() as session:
        session.add_all(Item(id=i, name=f"item{k}", data={"k": k}, at=T0, n=k, flag=None) for k, i in enumerate(IDS))
        session.add_all(Pair(a=a, b=b, value=f"{a}{b}") for a in "xy" for b in (1, 2))
        await session.commit()
    return engine


@pytest.fixture
async def pg(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    engine = await _engine(pg_database)
    yield engine
    await engine.dispose()


async def _rows(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table).order_by(*table.primary_key.columns))).mappings()]


@pytest.mark.postgres
async def test_unnest_update_changes_only_the_named_rows_and_columns(pg: AsyncEngine) -> None:
    later = T0 + timedelta(hours=3)
    async with async_sessionmaker(pg)() as session:
        await unnest_update(session, ITEMS, [
            {"id": IDS[1], "name": "second", "data": {"nested": [1, "two", None]}, "at": later},
            {"id": IDS[3], "name": "fourth", "data": None, "at": None},
            {"id": uuid.UUID(int=999), "name": "nobody", "data": {}, "at": later},  # matches no row
        ], key=["id"])
        await session.commit()
    rows = {r["id"]: r for r in await _rows(pg, ITEMS)}
    assert len(rows) == len(IDS)
    assert rows[IDS[1]] == {"id": IDS[1], "name": "second", "data": {"nested": [1, "two", None]}, "at": later,
                             "n": 1, "flag": None}
    assert (rows[IDS[3]]["name"], rows[IDS[3]]["data"], rows[IDS[3]]["at"], rows[IDS[3]]["n"]) == ("fourth", None, None, 3)
    for untouched in (0, 2, 4, 5):
        assert rows[IDS[untouched]] == {"id": IDS[untouched], "name": f"item{untouched}", "data": {"k": untouched},
                                        "at": T0, "n": untouched, "flag": None}


@pytest.mark.postgres
async def test_unnest_update_with_a_composite_key(pg: AsyncEngine) -> None:
    async with async_sessionmaker(pg)() as session:
        await unnest_update(session, PAIRS, [{"a": "x", "b": 2, "value": "X2"}, {"a": "y", "b": 1, "value": "Y1"}],
                            key=("a", "b"))
        await session.commit()
    assert [r["value"] for r in await _rows(pg, PAIRS)] == ["x1", "X2", "Y1", "y2"]


@pytest.mark.postgres
async def test_unnest_update_refuses_a_key_given_twice(pg: AsyncEngine) -> None:
    async with async_sessionmaker(pg)() as session:
        with pytest.raises(ValueError, match="appears twice"):
            await unnest_update(session, ITEMS, [{"id": IDS[0], "n": 1}, {"id": IDS[0], "n": 2}], key=["id"])


@pytest.mark.postgres
async def test_unnest_update_is_one_statement_for_any_row_count(pg: AsyncEngine) -> None:
    with sent_statements(pg) as statements:
        for count in (1, 4, 6):
            async with async_sessionmaker(pg)() as session:
                await unnest_update(session, ITEMS, [{"id": i, "n": count} for i in IDS[:count]], key=["id"])
                await session.commit()
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 3 and len(set(updates)) == 1  # the same SQL text: prepared once per connection
    assert [r["n"] for r in await _rows(pg, ITEMS)] == [6] * 6


Edit = Callable[[dict[uuid.UUID, Item], dict[tuple[str, int], Pair]], None]


def _edits(items: dict[uuid.UUID, Item], pairs: dict[tuple[str, int], Pair]) -> None:
    items[IDS[0]].name = "renamed"
    items[IDS[0]].data = {"new": True}
    items[IDS[1]].n = 41
    items[IDS[1]].at = T0 + timedelta(days=1)
    items[IDS[2]].flag = True
    items[IDS[2]].data = None
    items[IDS[3]].name = items[IDS[3]].name  # set to the same value
    pairs[("y", 2)].value = "changed"


async def _apply(engine: AsyncEngine, edit: Edit, *, bulk: bool) -> list[object]:
    async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
        items = {i.id: i for i in (await session.execute(select(Item))).scalars()}
        pairs = {(p.a, p.b): p for p in (await session.execute(select(Pair))).scalars()}
        edit(items, pairs)
        written = await flush_changed_rows(session, list(session.dirty)) if bulk else []
        await session.commit()
        return written


@pytest.mark.postgres
async def test_flush_changed_rows_writes_what_the_orm_flush_writes(postgres_url: str, pg_database: Database) -> None:
    bulk_engine = await _engine(pg_database)
    twin_schema = f"{pg_database.schema}_twin"
    from servicekit.testing import drop_schema, ensure_schema

    await ensure_schema(postgres_url, twin_schema)
    orm_engine = await _engine(Database(postgres_url, twin_schema))
    try:
        written = await _apply(bulk_engine, _edits, bulk=True)
        await _apply(orm_engine, _edits, bulk=False)
        for table in (ITEMS, PAIRS):
            assert await _rows(bulk_engine, table) == await _rows(orm_engine, table)
        # The unchanged rows were not written; the one set to its own value was (as the ORM marks it).
        written_keys = sorted(str(getattr(obj, "id", None) or (obj.a, obj.b)) for obj in written)  # type: ignore[attr-defined]
        assert written_keys == sorted([*(str(i) for i in IDS[:4]), str(("y", 2))])
        assert (await _rows(bulk_engine, ITEMS))[0]["data"] == {"new": True}
    finally:
        await bulk_engine.dispose()
        await orm_engine.dispose()
        await drop_schema(postgres_url, twin_schema)


@pytest.mark.postgres
async def test_flush_changed_rows_leaves_new_objects_to_the_session(pg: AsyncEngine) -> None:
    fresh = uuid.UUID(int=77)
    async with async_sessionmaker(pg, expire_on_commit=False)() as session:
        first = (await session.execute(select(Item).where(Item.id == IDS[0]))).scalar_one()
        first.n = 100
        session.add(Item(id=fresh, name="new", data=None, at=None, n=7, flag=False))
        written = await flush_changed_rows(session, [*session.dirty, *session.new])
        assert written == [first]
        await session.commit()
    rows = {r["id"]: r for r in await _rows(pg, ITEMS)}
    assert rows[IDS[0]]["n"] == 100
    assert rows[fresh]["name"] == "new"


async def test_on_sqlite_the_session_flush_does_the_work(sqlite_database: Database) -> None:
    engine = await _engine(sqlite_database)
    try:
        assert await _apply(engine, _edits, bulk=True) == []
        rows = {r["id"]: r for r in await _rows(engine, ITEMS)}
        assert rows[IDS[0]]["name"] == "renamed" and rows[IDS[1]]["n"] == 41 and rows[IDS[2]]["flag"] is True
        async with async_sessionmaker(engine)() as session:
            await bulk_update(session, PAIRS, [{"a": "x", "b": 1, "value": "sqlite"}], key=("a", "b"))
            await bulk_update(session, ITEMS, [{"id": IDS[5], "n": 50, "data": {"z": 1}}], key=["id"])
            await session.commit()
        assert [r["value"] for r in await _rows(engine, PAIRS)] == ["sqlite", "x2", "y1", "changed"]
        five = {r["id"]: r for r in await _rows(engine, ITEMS)}[IDS[5]]
        assert (five["n"], five["data"], five["name"]) == (50, {"z": 1}, "item5")
    finally:
        await engine.dispose()


async def _mixed_rows_update(db: Database) -> list[tuple[str, int]]:
    engine = await _engine(db)
    try:
        async with async_sessionmaker(engine)() as session:
            await bulk_update(session, ITEMS, [{"id": IDS[0], "n": 10}, {"id": IDS[1], "name": "one", "n": 11},
                                               {"id": IDS[2], "n": 12}, {"n": 13, "id": IDS[3]}], key=["id"])
            await session.commit()
        rows = {r["id"]: r for r in await _rows(engine, ITEMS)}
    finally:
        await engine.dispose()
    return [(rows[i]["name"], rows[i]["n"]) for i in IDS[:5]]


MIXED_EXPECTED = [("item0", 10), ("one", 11), ("item2", 12), ("item3", 13), ("item4", 4)]


@pytest.mark.postgres
async def test_bulk_update_takes_rows_that_change_different_columns(pg_database: Database) -> None:
    assert await _mixed_rows_update(pg_database) == MIXED_EXPECTED


async def test_bulk_update_takes_rows_that_change_different_columns_on_sqlite(sqlite_database: Database) -> None:
    assert await _mixed_rows_update(sqlite_database) == MIXED_EXPECTED
