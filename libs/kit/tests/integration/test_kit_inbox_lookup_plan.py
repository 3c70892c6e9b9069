"""The inbox lookups of a batch (`UnitOfWork.inbox_record_digests`, the replay path's one read per batch, and
`inbox_digests`) probe the inbox's key once per id, whether or not PostgreSQL has statistics for the table.

Without statistics (a table that grew since its last ANALYZE) the planner took `consumer_group = :group AND
event_id = ANY(:ids)` by the key's first column alone: every claim of the group read and filtered against the whole
array, 17-20 ms per batch of 500 at 100,000 claims instead of 2 ms. The test asks PostgreSQL for the plan of each
lookup as the unit of work sends it, on a fresh inbox of 30,000 claims in two groups that was never analysed, and
again after ANALYZE: no plan may filter rows by the array; each must probe the key with both columns."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.messaging import uow as uow_module
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import kit_metadata
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]

GROUP, OTHER = "svc.on_audit_completed", "svc.on_lead_upserted"
CLAIMS = 15_000


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _plan(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    compiled = statement.compile(dialect=conn.dialect)
    sql = compiled.string
    positional = [params[name] for name in compiled.positiontup]
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    found = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *positional)
    # The engine's connections decode json themselves (servicekit.process.db.json_value).
    return _nodes((found if isinstance(found, list) else json.loads(found))[0]["Plan"])


def _probes_the_key(nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        assert "ANY" not in node.get("Filter", ""), node  # rows read by the group, then filtered by the array
        assert "ANY" not in node.get("Recheck Cond", ""), node
    probes = [n for n in nodes if n["Node Type"] == "Index Scan" and n.get("Index Name") == "pk_inbox"]
    assert probes, nodes
    assert all("event_id" in n["Index Cond"] and "consumer_group" in n["Index Cond"] for n in probes), probes


async def test_the_lookups_probe_the_key_with_or_without_statistics(pg_database: Database) -> None:
    engine: AsyncEngine = create_engine(pg_database.url, schema=pg_database.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
            # Autovacuum must not analyse the table before the first half of the test looks at it.
            await conn.execute(text("ALTER TABLE inbox SET (autovacuum_enabled = off)"))
            for group in (OTHER, GROUP):
                await conn.execute(text(
                    "INSERT INTO inbox (consumer_group, event_id, event_type, processed_at, payload_sha256, "
                    "record_sha256) SELECT :group, gen_random_uuid(), 'X', now(), md5(g::text), md5(g::text) "
                    "FROM generate_series(1, :n) AS g"), {"group": group, "n": CLAIMS})
            wanted = [str(row[0]) for row in await conn.execute(
                text("SELECT event_id FROM inbox WHERE consumer_group = :g LIMIT 500"), {"g": GROUP})]
        lookups = [uow_module._INBOX_RECORD_DIGESTS, *uow_module._INBOX_DIGESTS.values()]
        for analysed in (False, True):
            async with engine.connect() as conn:
                if analysed:
                    await conn.execute(text("ANALYZE inbox"))
                else:
                    never = await conn.scalar(text("SELECT reltuples < 0 FROM pg_class WHERE oid = 'inbox'::regclass"))
                    assert never, "the inbox was analysed already: the case without statistics is not tested"
                for lookup in lookups:
                    _probes_the_key(await _plan(conn, lookup, {"group": GROUP, "ids": wanted}))
        # And they answer: every wanted id of the group with its digest, none of another group's.
        sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        async with UnitOfWork(sessions) as uow:
            by_text = await uow.inbox_record_digests(GROUP, [*wanted, wanted[0], str(uuid.uuid4())])
            by_id = await uow.inbox_digests(GROUP, [uuid.UUID(i) for i in [*wanted[:10], wanted[0]]])
            elsewhere = await uow.inbox_record_digests(OTHER, wanted)
        assert sorted(by_text) == sorted(wanted) and all(len(d or "") == 32 for d in by_text.values())
        assert sorted(by_id) == sorted(uuid.UUID(i) for i in wanted[:10])
        assert all(isinstance(key, uuid.UUID) for key in by_id)
        assert all(uuid.UUID(i) in by_id for i in wanted[:10])  # found by the callers' own uuid.UUID values
        assert elsewhere == {}
    finally:
        await engine.dispose()
