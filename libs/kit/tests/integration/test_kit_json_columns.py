"""JSON columns go to the database through pydantic-core (`servicekit.process.db.json_text` / `json_value`) since
2026-12-07, where they went through `json.dumps` / `json.loads`. Judged against the standard library and by
PostgreSQL itself, on values Hypothesis generates (nested, non-ASCII, escapes, big integers, floats): the jsonb the
new text becomes is the jsonb the old text became, through the ORM's JSON type and through the kit's unnest
statements, and what the new parser makes of the text PostgreSQL returns is what `json.loads` makes of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.process.bulk import unnest_insert
from servicekit.process.db import create_engine, json_text, json_value
from servicekit.testing import Database

# What jsonb can hold: no NUL in strings (PostgreSQL refuses \u0000), no lone surrogates (not Unicode), finite
# numbers (JSON has no NaN or infinity).
_STRINGS = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | _STRINGS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_STRINGS, children, max_size=5),
    max_leaves=30)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "é"}
    for _ in range(depth):
        value = {"a": value}
    return value


# Deeper than pydantic-core encodes (254) and parses (~200): the fallbacks to the standard library.
DEEP = [_nested(150), _nested(300), _nested(800)]


@given(JSON_VALUES)
@settings(max_examples=300, deadline=None)
@example(DEEP[0])
@example(DEEP[1])
@example(DEEP[2])
def test_the_new_text_parses_to_what_json_loads_reads_from_the_old(value: Any) -> None:
    assert json_value(json_text(value)) == json.loads(json.dumps(value))
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def _generated(count: int) -> list[Any]:
    """`count` values drawn by Hypothesis (deterministically), for a judge that runs on the event loop."""
    drawn: list[Any] = []

    @given(JSON_VALUES)
    @settings(max_examples=count, deadline=None, derandomize=True, database=None)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


@pytest.mark.postgres
async def test_postgres_stores_the_same_jsonb_from_the_new_text_as_from_json_dumps(pg_database: Database) -> None:
    # A top-level None is SQL NULL on the unnest path and JSON null on the ORM's: the documents inside, not that.
    values = [value for value in _generated(200) if value is not None] + DEEP
    table = Table("json_judge", MetaData(), Column("n", Integer, primary_key=True), Column("doc", JSONB))
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            # The ORM's JSON type (create_engine's json_serializer) for the first half, the kit's unnest statement
            # (bulk._value) for the second.
            half = len(values) // 2
            await conn.execute(table.insert(), [{"n": i, "doc": v} for i, v in enumerate(values[:half])])
        async with engine.begin() as conn, AsyncSession(bind=conn) as session:
            await unnest_insert(session, table, [{"n": half + i, "doc": v} for i, v in enumerate(values[half:])])
        async with engine.connect() as conn:
            read = {row.n: row.doc for row in await conn.execute(select(table.c.n, table.c.doc))}
            # PostgreSQL judges: the stored jsonb equals the jsonb of the standard library's text.
            differing = []
            for n, value in enumerate(values):
                same = (await conn.execute(text("SELECT doc = CAST(:old AS jsonb) FROM json_judge WHERE n = :n"),
                                           {"old": json.dumps(value), "n": n})).scalar_one()
                if not same:
                    differing.append(value)
            returned = {row.n: row.doc for row in await conn.execute(text("SELECT n, doc::text AS doc FROM json_judge"))}
    finally:
        await engine.dispose()
    assert differing == []
    assert len(read) == len(values) == len(returned)
    for n, raw in returned.items():
        assert read[n] == json.loads(raw), (n, raw)
