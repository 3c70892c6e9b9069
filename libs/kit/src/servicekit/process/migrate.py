"""Alembic, run programmatically at start-up or from the CLI: the kit's history, then the service's.

Each service keeps `src/<svc>/migrations/` (env.py + versions/) for its own tables. Its env.py is two lines:
`run_migrations(context, target_metadata)`. Its first revision calls `create_kit_tables()` for the
outbox and inbox (the kit history's baseline; whichever runs first creates them).

The kit's tables have one history shared by every service (servicekit.kit_migrations, version table
`kit_alembic_version` in the service's schema), which `upgrade()` runs to its head before the service's history.
A kit-table change is one revision there, none in a service; every service picks it up on its next `upgrade()`.
The services' old kit revisions (`kit_tables_v2`, `kit_tables_v3`) stay, as no-ops, for their ids.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from servicekit.process.db import TOAST_COMPRESSION, ToastCompression, create_engine, ensure_schema


def create_kit_tables() -> None:
    """Creates the kit's tables, where missing, in the kit history's baseline shape inside a service's first
    revision. Later changes of the kit tables are revisions of the kit history (servicekit.kit_migrations)."""
    from alembic import op

    from servicekit.kit_migrations.baseline import create_tables

    create_tables(op.get_bind())


def _config(script_location: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade(url: str, *, schema: str, script_location: str, revision: str = "head",
                  kit_script_location: str | None = None, toast_compression: ToastCompression = TOAST_COMPRESSION
                  ) -> None:
    """Creates the schema (PostgreSQL) and upgrades, in one transaction, the kit's history to its head, then the
    service's (`script_location`) to `revision`. `kit_script_location` replaces the kit's history (tests);
    `toast_compression` is the service's setting (servicekit.process.db.create_engine)."""
    await ensure_schema(url, schema)
    engine = create_engine(url, schema=schema, toast_compression=toast_compression)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # API, consumers and relay pods of a service start together: one migrates, the others wait
                # for the lock (held until this transaction ends) and then find the schema at head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"migrate:{schema}"})
            await conn.run_sync(lambda sync_conn: _upgrade(sync_conn, script_location, revision, kit_script_location))
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, script_location: str, revision: str, kit_script_location: str | None) -> None:
    from servicekit.kit_migrations import upgrade_kit_tables

    upgrade_kit_tables(connection, script_location=kit_script_location)
    command.upgrade(_config(script_location, connection), revision)


def run_migrations(context: Any, target_metadata: MetaData, *, version_table: str = "alembic_version") -> None:
    """Body of every service's env.py (and the kit history's, with its `version_table`): uses the connection
    handed over by `upgrade()`, or for the alembic CLI the URL in `MIGRATION_DATABASE_URL` / `MIGRATION_SCHEMA`."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(context, connection, target_metadata, version_table)
        return
    url = os.environ["MIGRATION_DATABASE_URL"]
    schema = os.environ.get("MIGRATION_SCHEMA")

    async def _online() -> None:
        if schema:
            await ensure_schema(url, schema)
        engine = create_engine(url, schema=schema)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: _run(context, c, target_metadata, version_table))
        finally:
            await engine.dispose()

    asyncio.run(_online())


def _run(context: Any, connection: Connection, target_metadata: MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
