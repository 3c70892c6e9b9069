"""`python -m <service>.entrypoints.migrate [--wait]`: migrations as their own step (a Kubernetes Job, a compose
one-shot), run by a role allowed DDL, so the services themselves can run with a DML-only role and
`MIGRATE_ON_START=false`.

- without `--wait`: upgrade the service's schema to head, then grant the runtime role (`DB_RUNTIME_ROLE`) the
  use of it (schema usage, DML on every table and sequence, also for tables later migrations create), and run
  the service's extra steps (e.g. the PlusVibe slot table);
- `--wait`: only wait, with the runtime role, until the schema is at this image's head (an initContainer), at
  most `MIGRATE_WAIT_TIMEOUT_S` (300) seconds; exit 1 if it never is. The head is the service history's and
  the kit history's (servicekit.kit_migrations): an image whose only change is a kit revision waits for it too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from servicekit.process.db import create_engine, is_postgres
from servicekit.process.migrate import upgrade

ExtraStep = Callable[[str, str | None], Awaitable[None]]  # (database url, runtime role)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def head_revision(script_location: str) -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    return ScriptDirectory.from_config(cfg).get_current_head()


async def current_revision(url: str, schema: str | None, *, version_table: str = "alembic_version") -> str | None:
    engine = create_engine(url, schema=schema)
    opts = {"version_table": version_table}
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c, opts=opts).get_current_revision())
    finally:
        await engine.dispose()


async def grant_runtime_role(url: str, schema: str, role: str) -> None:
    engine = create_engine(url, schema=schema)
    r, s = _quote(role), _quote(schema)
    try:
        async with engine.begin() as conn:
            for statement in (
                f"GRANT USAGE ON SCHEMA {s} TO {r}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
                f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}",
            ):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def migrate_main(runtime: Any, argv: Sequence[str] | None = None, *,
                       extra_steps: Sequence[ExtraStep] = ()) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {runtime.settings.service_name}.entrypoints.migrate")
    parser.add_argument("--wait", action="store_true", help="only wait until the schema is at head")
    args = parser.parse_args(argv)
    settings = runtime.settings
    url = settings.resolved_database_url()
    schema = settings.resolved_schema() if is_postgres(url) else None
    if runtime.migrations is None:
        return 0
    head = head_revision(runtime.migrations)
    try:
        if args.wait:
            from servicekit.kit_migrations import KIT_MIGRATIONS, KIT_VERSION_TABLE

            kit_head = head_revision(KIT_MIGRATIONS)
            timeout = float(os.environ.get("MIGRATE_WAIT_TIMEOUT_S", "300"))
            deadline = time.monotonic() + timeout
            while True:
                try:
                    current = await current_revision(url, schema)
                    kit_current = await current_revision(url, schema, version_table=KIT_VERSION_TABLE)
                except Exception as exc:  # not reachable yet, or the schema is not there yet
                    current = kit_current = f"unavailable ({type(exc).__name__})"
                if current == head and kit_current == kit_head:
                    print(f"[migrate] {settings.service_name}: schema at head {head}", flush=True)
                    return 0
                if time.monotonic() > deadline:
                    name = settings.service_name
                    shown = current if current is not None else "no revision (never migrated)"
                    wanted = head
                    if current == head:  # only the kit's tables are behind (the new image brings a kit revision)
                        shown = f"{shown} with kit tables at {kit_current or 'no revision'}"
                        wanted = f"{head} with kit tables at {kit_head}"
                    print(f"[migrate] {name}: schema {schema or 'main'!r} is at {shown}, not this image's head "
                          f"{wanted}, after {timeout:g} s; has the migration step (python -m {name}.entrypoints.migrate "
                          "with the DDL role) run?", file=sys.stderr, flush=True)
                    return 1
                await asyncio.sleep(2)
        await upgrade(url, schema=schema or "main", script_location=runtime.migrations,
                      toast_compression=runtime.settings.db_toast_compression)
        role = os.environ.get("DB_RUNTIME_ROLE") or None
        if role and schema:
            await grant_runtime_role(url, schema, role)
        for step in extra_steps:
            await step(url, role)
        print(f"[migrate] {settings.service_name}: at head {head}" + (f", granted to {role}" if role else ""),
              flush=True)
        return 0
    finally:
        await runtime.dispose()
