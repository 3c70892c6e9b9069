"""The reads that the dropped indexes of `leads` (migration 0016: `ix_leads_email`, `ix_leads_updated_at`) could
have served still use an index: the list of a workspace sorted by update time, and the lookup of leads by address
(an import's duplicate check). A lead's status and update time change on every transition, so every update of a
lead writes into every index of the table; an index no query uses only costs writes.

Each statement is captured as the repository sends it and explained by PostgreSQL with the same parameters, on
a table of 6,000 leads in three workspaces with fresh statistics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leads.adapters.imports import ImportRepository
from leads.adapters.repository import LeadRepository
from leads.bootstrap import MIGRATIONS
from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.testing import Database, plan_nodes

pytestmark = pytest.mark.postgres

WORKSPACES = ("default", "acme", "globex")
PER_WORKSPACE = 2_000


async def _seed(engine: AsyncEngine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": uuid.uuid4(), "workspace": workspace, "email": f"Person{n}@{workspace}.test",
             "domain": f"site{n}.{workspace}.test", "status": ("new", "audit_complete", "email_generated")[n % 3],
             "at": start + timedelta(seconds=n)}
            for workspace in WORKSPACES for n in range(PER_WORKSPACE)]
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO leads (id, workspace, email, domain, status, opens, version, created_at, updated_at) "
            "VALUES (:id, :workspace, :email, :domain, :status, 0, 1, :at, :at)"), rows)
        await conn.execute(text("ANALYZE leads"))


Plan = list[tuple[str, str]]


async def _plans_of(engine: AsyncEngine, call: Callable[[AsyncSession], Awaitable[object]]) -> list[Plan]:
    """Runs `call` in a session, then has PostgreSQL explain every statement it sent to `leads`, with its
    parameters."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: Any, _context: object,
                _many: bool) -> None:
        if "leads" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with AsyncSession(engine) as session:
            await call(session)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert sent, "the call sent no SELECT to leads"
    plans = []
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        for statement, parameters in sent:
            plan = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *parameters)
            plans.append(plan_nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))
    return plans


async def test_migration_0016_drops_the_two_indexes_no_query_uses(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS, revision="0015")
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    query = text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'leads'")
    try:
        async with engine.connect() as conn:
            before = set((await conn.execute(query)).scalars())
        await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
        async with engine.connect() as conn:
            after = set((await conn.execute(query)).scalars())
    finally:
        await engine.dispose()
    assert before - after == {"ix_leads_email", "ix_leads_updated_at"}
    assert after == before - {"ix_leads_email", "ix_leads_updated_at"}
    assert {"ix_leads_workspace_updated_at", "ix_leads_workspace_lower_email"} <= after


async def test_a_workspace_list_sorted_by_update_time_reads_the_workspace_index(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    try:
        await _seed(engine)
        for descending in (True, False):
            plans = await _plans_of(engine, lambda session, d=descending: LeadRepository(session).search(
                workspace="acme", status=None, campaign_id=None, text=None, sort="updated_at", descending=d,
                offset=0, limit=50))
            # The page (the count is a statement of its own): an ordered scan of the workspace's index; the page's
            # tie-break on id may add an incremental sort of equal update times, never a sort of the workspace.
            pages = [plan for plan in plans if any(name == "ix_leads_workspace_updated_at" for _, name in plan)]
            assert pages, plans
            assert all(kind != "Sort" for plan in pages for kind, _ in plan), pages
            assert all(kind != "Seq Scan" for plan in pages for kind, _ in plan), pages
    finally:
        await engine.dispose()


async def test_an_imports_duplicate_check_by_address_reads_the_lower_email_index(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    found: dict[str, uuid.UUID] = {}

    async def check(session: AsyncSession) -> None:
        found.update(await ImportRepository(session).existing_keys(
            "acme", emails=["person7@acme.test", "person8@acme.test"], domains=[]))

    try:
        await _seed(engine)
        plans = await _plans_of(engine, check)
    finally:
        await engine.dispose()
    assert set(found) == {"email:person7@acme.test", "email:person8@acme.test"}
    assert any(name == "ix_leads_workspace_lower_email" for plan in plans for _, name in plan), plans
    assert not any(kind == "Seq Scan" and name == "leads" for plan in plans for kind, name in plan), plans
