"""The delivery worker's poll for due attempts reads the partial index of pending attempts, even under the generic
plan PostgreSQL caches for a prepared statement (asyncpg prepares every statement it runs).

Found by profiling the pipeline benchmark (pg_stat_statements + auto_explain): with the status bound as a parameter,
the cached generic plan could not use `ix_writeback_attempts_due` (its predicate is `status = 'pending'`) and
scanned every attempt on every poll, 7 ms at 10,000 attempts and growing with the table. The plan is asked for here
the way the server builds it: the statement as SQLAlchemy sends it, `PREPARE`d, then `EXPLAIN EXECUTE` with
`plan_cache_mode = force_generic_plan`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from servicekit.process.db import create_engine
from servicekit.process.migrate import upgrade
from servicekit.testing import Database, plan_nodes
from writeback.adapters.orm import writeback_attempts
from writeback.adapters.repository import DUE_ATTEMPT
from writeback.bootstrap import MIGRATIONS

pytestmark = pytest.mark.postgres

DONE_ATTEMPTS = 3_000


def _attempt(now: datetime, status: str) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "lead_id": uuid.uuid4(), "audit_run_id": uuid.uuid4(), "audit_requested_at": now,
            "kind": "auto", "campaign_id": "camp-1", "email": "jo@acme.test", "inputs": {"profile": {}},
            "dedupe_key": uuid.uuid4().hex * 2, "status": status, "delivered": status == "delivered",
            "attempts": 1, "created_at": now, "updated_at": now, "next_try_at": now, "maybe_applied": False}


def _literal(value: object) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no literal for {value!r}")


async def test_the_due_poll_uses_the_pending_index_under_a_generic_plan(pg_database: Database) -> None:
    await upgrade(pg_database.url, schema=pg_database.schema, script_location=MIGRATIONS)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    now = datetime.now(UTC)
    # The SQL as it is sent for a poll at `now` ('pending' rendered in, `now` as a parameter).
    compiled = DUE_ATTEMPT.compile(dialect=engine.dialect).construct_expanded_state({"now": now})
    assert compiled.positiontup is not None
    arguments = ", ".join(_literal(compiled.parameters[name]) for name in compiled.positiontup)
    try:
        async with engine.begin() as conn:
            rows = [_attempt(now - timedelta(minutes=5), "delivered") for _ in range(DONE_ATTEMPTS)]
            rows.append(_attempt(now - timedelta(minutes=1), "pending"))
            await conn.execute(insert(writeback_attempts), rows)
            await conn.execute(text("ANALYZE writeback_attempts"))
        async with engine.connect() as conn:
            await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
            await conn.exec_driver_sql(f"PREPARE due_poll AS {compiled.statement}")
            explained = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE due_poll({arguments})")).scalar()
            # The statement as prepared still finds the one pending attempt (the SQL is the one the worker runs).
            found = (await conn.exec_driver_sql(f"EXECUTE due_poll({arguments})")).mappings().all()
            await conn.rollback()
    finally:
        await engine.dispose()
    assert explained is not None
    plan = explained if isinstance(explained, list) else json.loads(explained)
    scans = plan_nodes(plan[0]["Plan"])
    outer = [scan for scan in scans if scan[1] != "ix_writeback_attempts_lead"]
    assert ("Index Scan", "ix_writeback_attempts_due") in outer, scans
    assert not any(kind == "Seq Scan" for kind, _ in scans), scans
    assert [row["status"] for row in found] == ["pending"]
