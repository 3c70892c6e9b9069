"""Alembic, one history per service, run programmatically at start-up or from the CLI.

Each service keeps `src/<svc>/migrations/` (env.py + versions/). Its env.py is two lines:
`run_migrations(context, target_metadata)`. Its first revision calls `create_kit_tables()` for the
outbox and inbox.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, MetaData, String, inspect, text
from sqlalchemy.engine import Connection

from servicekit.process.db import create_engine, ensure_schema
from servicekit.process.tables import inbox, kit_metadata, outbox


def create_kit_tables() -> None:
    """Creates the kit's tables (v1 shape) inside a migration. A later change of the kit tables ships a new
    function (`upgrade_kit_tables_v2`) that services call from a new revision."""
    from alembic import op

    kit_metadata.create_all(op.get_bind(), tables=[outbox, inbox])


def upgrade_kit_tables_v2() -> None:
    """Kit tables v2: `inbox.payload_sha256`. Idempotent, because a schema created after v2 already has the
    column (`create_kit_tables` creates the current shape)."""
    from alembic import op

    columns = {c["name"] for c in inspect(op.get_bind()).get_columns("inbox")}
    if "payload_sha256" not in columns:
        op.add_column("inbox", Column("payload_sha256", String(64), nullable=True))


def downgrade_kit_tables_v2() -> None:
    from alembic import op

    op.drop_column("inbox", "payload_sha256")


def upgrade_kit_tables_v3() -> None:
    """Kit tables v3: `inbox.record_sha256`. Idempotent like v2."""
    from alembic import op

    columns = {c["name"] for c in inspect(op.get_bind()).get_columns("inbox")}
    if "record_sha256" not in columns:
        op.add_column("inbox", Column("record_sha256", String(64), nullable=True))


def downgrade_kit_tables_v3() -> None:
    from alembic import op

    op.drop_column("inbox", "record_sha256")


def _config(script_location: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade(url: str, *, schema: str, script_location: str, revision: str = "head") -> None:
    """Creates the schema (PostgreSQL) and upgrades it to `revision`."""
    await ensure_schema(url, schema)
    engine = create_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # API, consumers and relay pods of a service start together: one migrates, the others wait
                # for the lock (held until this transaction ends) and then find the schema at head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"migrate:{schema}"})
            await conn.run_sync(lambda sync_conn: command.upgrade(_config(script_location, sync_conn), revision))
    finally:
        await engine.dispose()


def run_migrations(context: Any, target_metadata: MetaData) -> None:
    """Body of every service's env.py: uses the connection handed over by `upgrade()`, or for the alembic CLI
    the URL in `MIGRATION_DATABASE_URL` / `MIGRATION_SCHEMA`."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(context, connection, target_metadata)
        return
    url = os.environ["MIGRATION_DATABASE_URL"]
    schema = os.environ.get("MIGRATION_SCHEMA")

    async def _online() -> None:
        if schema:
            await ensure_schema(url, schema)
        engine = create_engine(url, schema=schema)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: _run(context, c, target_metadata))
        finally:
            await engine.dispose()

    asyncio.run(_online())


def _run(context: Any, connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
