"""The kit tables' own Alembic history (servicekit.kit_migrations), run by `servicekit.process.migrate.upgrade` before a
service's history, on real PostgreSQL (and SQLite, which the services' unit tests migrate):

- a fresh schema migrated with a service's history has the kit tables exactly as before the kit history (as
  `servicekit.process.tables` creates them), in either order of the two histories, and the kit history at its head;
- a schema migrated the old way (the service's history alone: no `kit_alembic_version`), with rows in the outbox
  and the inbox, keeps every row when migrated the new way, also one made before the inbox's v2/v3 columns;
- going below the kit history's baseline drops nothing; `migrate --wait` waits for the kit history's head too;
- a kit-table change is written once: one extra kit revision reaches the schemas of three services (at head,
  fresh, migrated by the service's history alone), with no service file changed.

The services' histories are the real ones (located with importlib.util.find_spec)."""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from servicekit.kit_migrations import KIT_MIGRATIONS, KIT_VERSION_TABLE
from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.process.migrate_cli import current_revision, head_revision, migrate_main
from servicekit.process.tables import kit_metadata
from servicekit.testing import Database, fresh_schema

pytestmark = [pytest.mark.postgres]

SERVICES = ("leads", "audits", "writeback", "unibox")
KIT_TABLES = ("outbox", "inbox")


def migrations_of(service: str) -> str:
    spec = importlib.util.find_spec(service)
    assert spec is not None and spec.submodule_search_locations, service
    return str(Path(next(iter(spec.submodule_search_locations))) / "migrations")


def kit_shape(conn: Connection) -> dict[str, Any]:
    """Everything SQLAlchemy reflects of the kit tables: columns, keys, constraints, indexes."""
    insp = inspect(conn)
    shape: dict[str, Any] = {}
    for table in KIT_TABLES:
        shape[table] = {
            "columns": [(c["name"], repr(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                        for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table),
            "unique": sorted(insp.get_unique_constraints(table), key=lambda u: str(u["name"])),
            "indexes": sorted(({k: v for k, v in i.items() if k != "dialect_options"}
                               | {"options": {k: str(v) for k, v in i.get("dialect_options", {}).items()}}
                               for i in insp.get_indexes(table)), key=lambda i: str(i["name"])),
            "foreign_keys": insp.get_foreign_keys(table),
            "checks": insp.get_check_constraints(table),
        }
    return shape


async def shape_of(db: Database) -> dict[str, Any]:
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(kit_shape)
    finally:
        await engine.dispose()


async def reference_shape(db: Database) -> dict[str, Any]:
    """The kit tables as `servicekit.process.tables` makes them (what every service's first revision made before the kit
    history: `kit_metadata.create_all`)."""
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: kit_metadata.create_all(c, tables=[kit_metadata.tables[t] for t in KIT_TABLES]))
    finally:
        await engine.dispose()
    return await shape_of(db)


async def versions(db: Database) -> tuple[str | None, str | None]:
    """(the service history's revision, the kit history's revision) of the schema."""
    schema = db.schema if db.url.startswith("postgres") else None
    return (await current_revision(db.url, schema),
            await current_revision(db.url, schema, version_table=KIT_VERSION_TABLE))


async def old_way(db: Database, service: str, revision: str = "head") -> None:
    """Migrates as before the kit history: the service's history alone."""
    engine = create_engine(db.url, schema=db.schema)

    def run(conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", migrations_of(service))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def execute(db: Database, *statements: str, **params: Any) -> None:
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.connect() as conn:
            return {
                "outbox": [tuple(r) for r in await conn.execute(text(
                    "SELECT event_id, event_type, topic, msg_key, headers, payload, created_at, sent_at FROM outbox "
                    "ORDER BY id"))],
                "inbox": [tuple(r) for r in await conn.execute(text(
                    "SELECT consumer_group, event_id, event_type, processed_at FROM inbox ORDER BY event_id"))],
            }
    finally:
        await engine.dispose()


@pytest.fixture
async def reference(postgres_url: str) -> AsyncIterator[dict[str, Any]]:
    async with fresh_schema(postgres_url) as db:
        yield await reference_shape(db)


# --- a fresh schema ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
async def test_a_fresh_schema_gets_the_kit_tables_as_before_and_the_kit_history_at_its_head(
    service: str, pg_database: Database, reference: dict[str, Any]
) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of(service))
    shape = await shape_of(pg_database)
    assert shape == reference
    for name in KIT_TABLES:
        assert [c[0] for c in shape[name]["columns"]] == [c.name for c in kit_metadata.tables[name].columns]
    assert await versions(pg_database) == (head_revision(migrations_of(service)), head_revision(KIT_MIGRATIONS))


async def test_the_service_history_first_then_the_kit_history_give_the_same_tables(
    pg_database: Database, reference: dict[str, Any]
) -> None:
    await old_way(pg_database, "writeback")  # the service's first revision creates the kit tables
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of("writeback"))
    assert await shape_of(pg_database) == reference
    assert await versions(pg_database) == (head_revision(migrations_of("writeback")), head_revision(KIT_MIGRATIONS))


@pytest.mark.parametrize("service", ["unibox", "writeback"])
async def test_a_fresh_sqlite_database_gets_the_same_kit_tables(service: str, tmp_path: Path) -> None:
    migrated = Database(f"sqlite+aiosqlite:///{tmp_path}/migrated.db", "main")
    expected = Database(f"sqlite+aiosqlite:///{tmp_path}/expected.db", "main")
    await upgrade(migrated.url, schema="main", script_location=migrations_of(service))
    assert await shape_of(migrated) == await reference_shape(expected)
    assert await versions(migrated) == (head_revision(migrations_of(service)), head_revision(KIT_MIGRATIONS))


# --- an existing deployment ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "revision", "dropped"), [
    ("leads", "head", ()),  # migrated to its head the old way: kit tables v3
    ("unibox", "0001", ("payload_sha256", "record_sha256")),  # made before kit tables v2
    ("audits", "0003", ("record_sha256",)),  # made before kit tables v3
])
async def test_a_schema_migrated_the_old_way_keeps_every_row_and_gets_the_kit_history(
    service: str, revision: str, dropped: tuple[str, ...], pg_database: Database, reference: dict[str, Any]
) -> None:
    await old_way(pg_database, service, revision)
    if dropped:  # the service's first revision now creates the current shape; an older schema lacked these
        await execute(pg_database, "ALTER TABLE inbox " + ", ".join(f"DROP COLUMN {c}" for c in dropped))
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for n in range(3):
        await execute(pg_database,
                      "INSERT INTO outbox (event_id, event_type, topic, msg_key, headers, payload, created_at, sent_at) "
                      "VALUES (:id, 'LeadUpserted', 'leads.lead', :key, CAST(:headers AS JSONB), :payload, :now, "
                      "CASE WHEN :sent THEN CAST(:now AS TIMESTAMPTZ) END)",
                      id=uuid.uuid4(), key=f"k{n}", headers='{"event_id": "x"}', payload=bytes([0, n, 255]), now=now,
                      sent=n == 0)
        await execute(pg_database, "INSERT INTO inbox (consumer_group, event_id, event_type, processed_at) "
                                   "VALUES ('g', :id, 'AuditCompleted', :now)", id=uuid.uuid4(), now=now)
    before = await rows(pg_database)
    assert await versions(pg_database) == (head_revision(migrations_of(service)) if revision == "head" else revision,
                                           None)

    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of(service))

    assert await rows(pg_database) == before
    assert len(before["outbox"]) == len(before["inbox"]) == 3
    assert await shape_of(pg_database) == reference
    assert await versions(pg_database) == (head_revision(migrations_of(service)), head_revision(KIT_MIGRATIONS))


async def test_going_below_the_kit_baseline_drops_nothing_and_the_next_upgrade_adopts_the_tables_again(
    pg_database: Database, reference: dict[str, Any]
) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of("leads"))
    claim = uuid.uuid4()
    await execute(pg_database, "INSERT INTO inbox (consumer_group, event_id, event_type, processed_at, "
                               "payload_sha256) VALUES ('g', :id, 'AuditCompleted', now(), :d)", id=claim, d="a" * 64)
    engine = create_engine(pg_database.url, schema=pg_database.schema)

    def downgrade(conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", KIT_MIGRATIONS)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    assert await versions(pg_database) == (head_revision(migrations_of("leads")), None)
    assert await shape_of(pg_database) == reference
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of("leads"))
    async with engine.connect() as conn:
        claims = (await conn.execute(text("SELECT event_id, payload_sha256 FROM inbox"))).all()
    await engine.dispose()
    assert [tuple(c) for c in claims] == [(claim, "a" * 64)]
    assert await versions(pg_database) == (head_revision(migrations_of("leads")), head_revision(KIT_MIGRATIONS))


# --- a kit-table change, written once ------------------------------------------------------------------------

NEXT_REVISION = '''"""A later kit-table change (this test's): the outbox keeps a note.

Revision ID: kit9001
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

revision = "kit9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "note")
'''


def service_files() -> dict[str, bytes]:
    return {str(p): p.read_bytes() for s in SERVICES for p in sorted(Path(migrations_of(s)).rglob("*.py"))}


async def test_one_kit_revision_reaches_the_service_schemas_with_no_service_file_changed(
    postgres_url: str, tmp_path: Path
) -> None:
    kit = tmp_path / "kit_migrations"
    shutil.copytree(KIT_MIGRATIONS, kit, ignore=shutil.ignore_patterns("__pycache__"))
    (kit / "versions" / "9001_outbox_note.py").write_text(NEXT_REVISION.format(head=head_revision(KIT_MIGRATIONS)))
    files = service_files()
    async with (fresh_schema(postgres_url) as leads, fresh_schema(postgres_url) as unibox,
                fresh_schema(postgres_url) as writeback):
        # leads: an existing deployment at today's heads, with an unsent event; unibox: a fresh schema;
        # writeback: its own history alone first (its first revision creates the kit tables), then both.
        await upgrade(leads.url, schema=leads.schema, script_location=migrations_of("leads"))
        await execute(leads, "INSERT INTO outbox (event_id, event_type, topic, headers, payload, created_at) "
                             "VALUES (:id, 'LeadUpserted', 't', CAST('{}' AS JSONB), :p, now())",
                      id=uuid.uuid4(), p=b"x")
        await old_way(writeback, "writeback")
        for db, service in ((leads, "leads"), (unibox, "unibox"), (writeback, "writeback")):
            await upgrade(db.url, schema=db.schema, script_location=migrations_of(service), kit_script_location=str(kit))
            shape = await shape_of(db)
            assert ("note", "TEXT()", True, None, False) in shape["outbox"]["columns"], shape["outbox"]
            assert await versions(db) == (head_revision(migrations_of(service)), "kit9001")
        engine = create_engine(leads.url, schema=leads.schema)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM outbox WHERE note IS NULL"))).scalar_one() == 1
        await engine.dispose()
    assert service_files() == files


async def test_migrate_wait_also_waits_for_the_kit_history(pg_database: Database, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """An image whose only change is a kit revision has the service history's head of the image before it: its
    pods' `migrate --wait` must not pass until the migration step has run the kit history too."""
    monkeypatch.setenv("MIGRATE_WAIT_TIMEOUT_S", "0")

    async def dispose() -> None:
        pass

    settings = SimpleNamespace(service_name="unibox", resolved_database_url=lambda: pg_database.url,
                               resolved_schema=lambda: pg_database.schema)
    runtime = SimpleNamespace(settings=settings, migrations=migrations_of("unibox"), dispose=dispose)
    await old_way(pg_database, "unibox")  # the service history at its head, the kit history not run

    assert await migrate_main(runtime, ["--wait"]) == 1
    head = head_revision(migrations_of("unibox"))
    assert (f"schema '{pg_database.schema}' is at {head} with kit tables at no revision, not this image's head "
            f"{head} with kit tables at {head_revision(KIT_MIGRATIONS)}, after 0 s") in capsys.readouterr().err

    await upgrade(pg_database.url, schema=pg_database.schema, script_location=migrations_of("unibox"))
    assert await migrate_main(runtime, ["--wait"]) == 0
    assert f"[migrate] unibox: schema at head {head}" in capsys.readouterr().out
