"""The rebuilt table: built from the live ORM table, compared with the live one row by row, swapped in (one
transaction, carried-over columns, indexes renamed); and the CLI's `rebuild-compare` / `rebuild-swap`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from ops_rebuild_spec import requests
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from outreach_ops.cli import app
from outreach_ops.switchover import compare_tables, swap_tables
from servicekit.messaging.kafka_admin import OpsError
from servicekit.messaging.rebuild_spec import fresh_table
from servicekit.process.db import create_engine
from servicekit.testing import Database

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FRESH = fresh_table(requests, "requests_rebuild")


def _row(lead: str, n: int, **values: Any) -> dict[str, Any]:
    return {"lead_id": lead, "requests": n, "profile": {"grade": "C"}, "note": None, "seen_at": T0, **values}


async def _setup(url: str, live_rows: Sequence[dict[str, Any]], fresh_rows: Sequence[dict[str, Any]] | None) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(requests.metadata.create_all)
            if live_rows:
                await conn.execute(requests.insert(), list(live_rows))
            if fresh_rows is not None:
                await conn.run_sync(FRESH.create)
                if fresh_rows:
                    await conn.execute(FRESH.insert(), list(fresh_rows))
    finally:
        await engine.dispose()


async def _read(url: str, table: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f'SELECT lead_id, requests, note FROM "{table}"'))).mappings().all()
            return {r["lead_id"]: dict(r) for r in rows}
    finally:
        await engine.dispose()


async def _index_names(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: {str(i["name"]) for i in inspect(c).get_indexes(table)})
    finally:
        await engine.dispose()


def test_the_fresh_table_has_the_live_columns_and_its_own_index_names() -> None:
    assert [(c.name, str(c.type), c.nullable, c.primary_key) for c in FRESH.columns] == [
        (c.name, str(c.type), c.nullable, c.primary_key) for c in requests.columns]
    assert {i.name for i in FRESH.indexes} == {"ix_requests_rebuild_note", "by_count__requests_rebuild"}
    assert FRESH.metadata is not requests.metadata
    assert {i.name for i in requests.indexes} == {"ix_requests_note", "by_count"}
    with pytest.raises(OpsError, match="must not be the live table"):
        fresh_table(requests, "requests")


async def test_compare_counts_rows_in_one_table_only_and_differences_per_column(sqlite_database: Database) -> None:
    live = [_row("a", 1), _row("b", 2), _row("c", 3, profile={"grade": "A"}), _row("d", 4)]
    fresh = [_row("a", 1, seen_at=T0.replace(hour=13), note="x"), _row("b", 5), _row("c", 3), _row("e", 1)]
    await _setup(sqlite_database.url, live, fresh)
    engine = create_engine(sqlite_database.url)
    try:
        result = await compare_tables(engine, "requests", "requests_rebuild", ignore=["note", "seen_at"])
        everything = await compare_tables(engine, "requests", "requests_rebuild")
        with pytest.raises(OpsError, match="does not have: \\['nope'\\]"):
            await compare_tables(engine, "requests", "requests_rebuild", ignore=["nope"])
        with pytest.raises(OpsError, match="'missing' does not exist"):
            await compare_tables(engine, "requests", "missing")
    finally:
        await engine.dispose()
    assert (result.live_rows, result.fresh_rows, result.only_live, result.only_fresh, result.differing) == (4, 4, 1, 1, 2)
    assert result.key == ["lead_id"] and result.compared == ["requests", "profile"]
    assert result.by_column == {"requests": 1, "profile": 1}
    assert result.samples == ["b", "c", "d (only live)", "e (only rebuilt)"]
    assert not result.equal
    assert everything.by_column == {"requests": 1, "profile": 1, "note": 1, "seen_at": 1} and everything.differing == 3


async def test_swap_carries_over_renames_tables_and_indexes_in_one_go(sqlite_database: Database) -> None:
    await _setup(sqlite_database.url, [_row("a", 1, note="kept"), _row("b", 2)], [_row("a", 1), _row("c", 7)])
    engine = create_engine(sqlite_database.url)
    try:
        result = await swap_tables(engine, "requests", "requests_rebuild", carry_over=["note"])
    finally:
        await engine.dispose()
    assert (result.old, result.rows, result.carried_over) == ("requests_old", 2, 1)
    assert result.indexes == {"ix_requests_note": "ix_requests_old_note", "by_count": "by_count__requests_old",
                              "ix_requests_rebuild_note": "ix_requests_note", "by_count__requests_rebuild": "by_count"}
    assert await _read(sqlite_database.url, "requests") == {
        "a": {"lead_id": "a", "requests": 1, "note": "kept"}, "c": {"lead_id": "c", "requests": 7, "note": None}}
    assert set(await _read(sqlite_database.url, "requests_old")) == {"a", "b"}
    assert await _index_names(sqlite_database.url, "requests") == {"ix_requests_note", "by_count"}
    assert await _index_names(sqlite_database.url, "requests_old") == {"ix_requests_old_note", "by_count__requests_old"}

    # Backing out: the former table swapped in again (the runbook's command), the rejected one kept aside.
    engine = create_engine(sqlite_database.url)
    try:
        back = await swap_tables(engine, "requests", "requests_old", carry_over=["note"], keep_as="requests_rejected")
    finally:
        await engine.dispose()
    assert back.old == "requests_rejected"
    assert set(await _read(sqlite_database.url, "requests")) == {"a", "b"}
    assert await _index_names(sqlite_database.url, "requests") == {"ix_requests_note", "by_count"}
    assert await _index_names(sqlite_database.url, "requests_rejected") == {"ix_requests_rejected_note",
                                                                             "by_count__requests_rejected"}


async def test_swap_refusals_change_nothing(sqlite_database: Database) -> None:
    url = sqlite_database.url
    await _setup(url, [_row("a", 1)], [])
    engine = create_engine(url)
    try:
        with pytest.raises(OpsError, match="'requests_rebuild' is empty and 'requests' has 1 row"):
            await swap_tables(engine, "requests", "requests_rebuild")
        with pytest.raises(OpsError, match="'nope' does not exist"):
            await swap_tables(engine, "requests", "nope")
        with pytest.raises(OpsError, match="does not have: \\['nope'\\]"):
            await swap_tables(engine, "requests", "requests_rebuild", carry_over=["nope"], allow_empty=True)
        with pytest.raises(OpsError, match="three different names"):
            await swap_tables(engine, "requests", "requests")
        async with engine.begin() as conn:
            await conn.execute(text('CREATE TABLE other (lead_id VARCHAR(36) PRIMARY KEY, requests INTEGER)'))
            await conn.execute(text('CREATE TABLE "requests_old" (x INTEGER)'))
        with pytest.raises(OpsError, match="'requests_old' exists"):
            await swap_tables(engine, "requests", "requests_rebuild", allow_empty=True)
        with pytest.raises(OpsError, match="does not have the columns of 'requests' \\(missing \\['note', 'profile', "
                                           "'seen_at'\\]"):
            await swap_tables(engine, "requests", "other", keep_as="requests_prev")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables == {"requests", "requests_rebuild", "requests_old", "other"}
    assert await _index_names(url, "requests") == {"ix_requests_note", "by_count"}


@pytest.mark.postgres
async def test_swap_on_postgres_renames_the_primary_key_and_indexes(pg_database: Database) -> None:
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(requests.metadata.create_all)
            await conn.run_sync(FRESH.create)
            await conn.execute(requests.insert(), [_row("a", 1, note="kept"), _row("b", 2)])
            await conn.execute(FRESH.insert(), [_row("a", 1, profile={"grade": "A"}), _row("b", 2)])
        before = await compare_tables(engine, "requests", "requests_rebuild", ignore=["note"])
        result = await swap_tables(engine, "requests", "requests_rebuild", carry_over=["note"])
        async with engine.connect() as conn:
            indexes = dict((await conn.execute(text(
                "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()"))).all())
            constraints = {r[0] for r in await conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid IN "
                "(CAST('requests' AS regclass), CAST('requests_old' AS regclass))"))}
            notes = dict((await conn.execute(select(requests.c.lead_id, requests.c.note))).all())
    finally:
        await engine.dispose()
    assert (before.differing, before.by_column, before.samples) == (1, {"profile": 1}, ["a"])
    assert result.carried_over == 2
    assert indexes == {"requests_pkey": "requests", "ix_requests_note": "requests", "by_count": "requests",
                       "requests_old_pkey": "requests_old", "ix_requests_old_note": "requests_old",
                       "by_count__requests_old": "requests_old"}
    assert constraints == {"requests_pkey", "requests_old_pkey"}
    assert notes == {"a": "kept", "b": None}


def test_cli_compare_and_swap(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqlite_database.url
    asyncio.run(_setup(url, [_row("a", 1, note="kept"), _row("b", 2)], [_row("a", 1), _row("b", 2, note="x")]))
    monkeypatch.setenv("OPS_TEST_DATABASE_URL", url)
    runner = CliRunner(env={"COLUMNS": "200"})
    spec = ["ops_rebuild_spec:swap_spec", "--table", "requests_rebuild"]

    same = runner.invoke(app, ["rebuild-compare", *spec])
    assert same.exit_code == 0, same.output
    assert "compared by lead_id on 2 column(s), not on note, seen_at" in same.output and "equal" in same.output

    refused = runner.invoke(app, ["rebuild", "ops_rebuild_spec:swap_spec", "--table", "requests", "--yes"])
    assert refused.exit_code == 2 and "must not be the live table" in refused.output
    exists = runner.invoke(app, ["rebuild", *spec, "--yes"])
    assert exists.exit_code == 2 and "'requests_rebuild' exists (an earlier rebuild?)" in exists.output
    no_live = runner.invoke(app, ["rebuild-swap", "ops_rebuild_spec:rebuild_spec", "--table", "t", "--yes"])
    assert no_live.exit_code == 2 and "names no live table" in no_live.output
    missing = runner.invoke(app, ["rebuild-swap", "ops_rebuild_spec:swap_spec", "--table", "nope", "--yes"])
    assert missing.exit_code == 2 and "table 'nope' does not exist" in missing.output
    aborted = runner.invoke(app, ["rebuild-swap", *spec], input="n\n")
    assert aborted.exit_code == 1 and "nothing was changed" in aborted.output

    swapped = runner.invoke(app, ["rebuild-swap", *spec, "--yes"])
    assert swapped.exit_code == 0, swapped.output
    assert "requests → requests_old, requests_rebuild → requests; copy note from the requests rows" in swapped.output
    assert "2 carried note over" in swapped.output
    assert {k: v["note"] for k, v in asyncio.run(_read(url, "requests")).items()} == {"a": "kept", "b": None}

    again = runner.invoke(app, ["rebuild-swap", *spec, "--yes"])
    assert again.exit_code == 2 and "'requests_old' exists" in again.output

    asyncio.run(_insert(url, "requests", _row("c", 9)))
    differ = runner.invoke(app, ["rebuild-compare", "ops_rebuild_spec:swap_spec", "--table", "requests_old"])
    assert differ.exit_code == 1, differ.output
    assert "only in requests: 1; only in requests_old: 0; differing: 0" in differ.output and "c (only live)" in differ.output


async def _insert(url: str, table: str, row: dict[str, Any]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(requests.insert() if table == "requests" else FRESH.insert(), [row])
    finally:
        await engine.dispose()
