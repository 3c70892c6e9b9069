"""The writeback migrations with data in the tables: a projection row and an attempt written before leads belonged
to a workspace belong to `default` after the upgrade, keep every other value, and the new `workspace` columns are
non-null with `default` as their server default; the copy settings table (0008) is created by the upgrade and
dropped by the downgrade. On PostgreSQL and on SQLite (the embedded deployment)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.process.migrate_cli import head_revision
from servicekit.testing import Database
from writeback.adapters.orm import copy_settings, lead_projection, writeback_attempts
from writeback.bootstrap import MIGRATIONS

HEAD = head_revision(MIGRATIONS)


def before_workspaces(table: Table) -> Table:
    """The table as revision 0006 left it: without the column this change adds (and its Python-side default)."""
    return Table(table.name, MetaData(), *(c._copy() for c in table.columns if c.name != "workspace"))


def _rows(lead: uuid.UUID, attempt: uuid.UUID, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    projection = {"lead_id": lead, "snapshot_version": 4, "deleted": False, "company_name": "Acme",
                  "contact_email": "jo@acme.test", "campaign_id": "camp-1", "last_attempt_id": attempt,
                  "profile": {"audit_grade": "C"}, "updated_at": now}
    attempt_row = {"id": attempt, "lead_id": lead, "audit_run_id": uuid.uuid4(), "audit_requested_at": now,
                   "kind": "auto", "campaign_id": "camp-1", "email": "jo@acme.test", "inputs": {"profile": {}},
                   "dedupe_key": "k" * 64, "status": "delivered", "delivered": True, "attempts": 1,
                   "created_at": now, "updated_at": now, "maybe_applied": False}
    return projection, attempt_row


def workspace_columns(conn: Connection) -> list[dict[str, Any]]:
    """The `workspace` column of each table, as the database reports it."""
    return [next(dict(c) for c in inspect(conn).get_columns(table) if c["name"] == "workspace")
            for table in ("lead_projection", "writeback_attempts")]


async def _rows_get_a_workspace(db: Database) -> None:
    schema = db.schema if db.url.startswith("postgresql") else None
    await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS, revision="0006")
    engine = create_engine(db.url, schema=schema)
    lead, attempt = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    projection, attempt_row = _rows(lead, attempt, now)
    try:
        async with engine.begin() as conn:
            await conn.execute(before_workspaces(lead_projection).insert().values(projection))
            await conn.execute(before_workspaces(writeback_attempts).insert().values(attempt_row))
        await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS)
        async with engine.connect() as conn:
            head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            got_projection = dict((await conn.execute(select(lead_projection))).mappings().one())
            got_attempt = dict((await conn.execute(select(writeback_attempts))).mappings().one())
            columns = await conn.run_sync(workspace_columns)
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE lead_projection SET workspace = NULL"))
    finally:
        await engine.dispose()
    assert head == HEAD == "0009"
    assert got_projection.pop("workspace") == "default" and got_attempt.pop("workspace") == "default"
    assert {k: got_projection[k] for k in projection} == projection
    assert {k: got_attempt[k] for k in attempt_row} == attempt_row
    assert len(columns) == 2
    for column in columns:
        assert column["nullable"] is False and "default" in str(column["default"])


@pytest.mark.postgres
async def test_rows_from_before_workspaces_belong_to_default_on_postgres(pg_database: Database) -> None:
    await _rows_get_a_workspace(pg_database)


async def test_rows_from_before_workspaces_belong_to_default_on_sqlite(sqlite_database: Database) -> None:
    await _rows_get_a_workspace(sqlite_database)


async def _downgrade(db: Database, revision: str) -> None:
    from alembic import command

    from servicekit.process.migrate import _config

    engine = create_engine(db.url, schema=db.schema if db.url.startswith("postgresql") else None)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(_config(MIGRATIONS, sync), revision))
    finally:
        await engine.dispose()


async def _copy_settings_come_and_go(db: Database) -> None:
    schema = db.schema if db.url.startswith("postgresql") else None
    await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS)
    engine = create_engine(db.url, schema=schema)
    row = {"workspace": "acme", "campaign_id": "", "tone": "friendly", "steps": None, "version": 1,
           "changed_at": datetime.now(UTC)}
    try:
        async with engine.begin() as conn:
            await conn.execute(copy_settings.insert().values(row))
        async with engine.connect() as conn:
            assert dict((await conn.execute(select(copy_settings))).mappings().one()) == row
        await _downgrade(db, "0007")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert head == "0007" and "copy_settings" not in tables and "lead_projection" in tables
        await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS)
        async with engine.connect() as conn:
            assert (await conn.execute(select(copy_settings))).all() == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_the_copy_settings_table_is_created_and_dropped_on_postgres(pg_database: Database) -> None:
    await _copy_settings_come_and_go(pg_database)


async def test_the_copy_settings_table_is_created_and_dropped_on_sqlite(sqlite_database: Database) -> None:
    await _copy_settings_come_and_go(sqlite_database)
