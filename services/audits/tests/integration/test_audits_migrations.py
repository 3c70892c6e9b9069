"""The audits migrations with data in the table: runs queued before workspaces were first-class (no
`workspace_id`) belong to `default` after the upgrade, a run that named its workspace keeps it, and the column is
non-null with `default` as its server default. On PostgreSQL and on SQLite (the embedded deployment, where the
column's change is a batch copy of the table)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import String, Uuid, bindparam, inspect, text
from sqlalchemy.exc import IntegrityError

from audits.bootstrap import MIGRATIONS
from servicekit.process.db import UTCDateTime, create_engine
from servicekit.process.migrate import upgrade
from servicekit.process.migrate_cli import head_revision
from servicekit.testing import Database

HEAD = head_revision(MIGRATIONS)
# Typed parameters: SQLite stores UUIDs as hex and times as text, as the service's own column types do.
TYPED = (bindparam("id", type_=Uuid), bindparam("lead", type_=Uuid), bindparam("event", type_=Uuid),
         bindparam("now", type_=UTCDateTime))
INSERT = text(
    "INSERT INTO audit_runs (id, lead_id, domain, status, requested_at, request_event_id, workspace_id, queued_at, "
    "attempts, report_slug, grade) VALUES (:id, :lead, 'shop.test', :status, :now, :event, :ws, :now, 1, :slug, "
    ":grade)").bindparams(*TYPED)
WITHOUT_WORKSPACE = text(
    "INSERT INTO audit_runs (id, lead_id, domain, status, requested_at, request_event_id, queued_at, attempts, "
    "report_slug) VALUES (:id, :lead, 'x.test', 'queued', :now, :event, :now, 0, 'later-slug')").bindparams(*TYPED)


async def _runs_get_a_workspace(db: Database) -> None:
    schema = db.schema if db.url.startswith("postgresql") else None
    await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS, revision="0004")
    engine = create_engine(db.url, schema=schema)
    legacy, named = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for run_id, ws, status, grade in ((legacy, None, "completed", "B"), (named, "acme", "queued", None)):
            await conn.execute(INSERT, {"id": run_id, "lead": uuid.uuid4(), "status": status, "now": now,
                                        "event": uuid.uuid4(), "ws": ws, "slug": f"slug-{run_id.hex}", "grade": grade})
    await upgrade(db.url, schema=db.schema, script_location=MIGRATIONS)
    try:
        async with engine.connect() as conn:
            head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            rows = {r.id: tuple(r[1:]) for r in (await conn.execute(text(
                "SELECT id, workspace_id, status, grade, report_slug FROM audit_runs").columns(
                id=Uuid, workspace_id=String, status=String, grade=String, report_slug=String))).all()}
            column = next(c for c in await conn.run_sync(lambda c: inspect(c).get_columns("audit_runs"))
                          if c["name"] == "workspace_id")
        async with engine.begin() as conn:  # a row written without a workspace gets `default` from the server
            later = uuid.uuid4()
            await conn.execute(WITHOUT_WORKSPACE, {"id": later, "lead": later, "event": later, "now": now})
            defaulted = (await conn.execute(text("SELECT workspace_id FROM audit_runs WHERE id = :id")
                                            .bindparams(TYPED[0]), {"id": later})).scalar_one()
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(INSERT, {"id": uuid.uuid4(), "lead": uuid.uuid4(), "status": "queued", "now": now,
                                            "event": uuid.uuid4(), "ws": None, "slug": "null-slug", "grade": None})
    finally:
        await engine.dispose()
    assert head == HEAD == "0005"
    assert rows == {legacy: ("default", "completed", "B", f"slug-{legacy.hex}"),
                    named: ("acme", "queued", None, f"slug-{named.hex}")}
    assert column["nullable"] is False and "default" in str(column["default"])
    assert defaulted == "default"


@pytest.mark.postgres
async def test_runs_without_a_workspace_belong_to_default_on_postgres(pg_database: Database) -> None:
    await _runs_get_a_workspace(pg_database)


async def test_runs_without_a_workspace_belong_to_default_on_sqlite(sqlite_database: Database) -> None:
    await _runs_get_a_workspace(sqlite_database)
