"""rebuild_projection: a topic read from the beginning into a fresh table, then handed to a fresh group."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kit_factories import audit_requested
from ops_kafka_helpers import OpsTopic, committed, live_member
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from contracts.topics import AUDIT_REQUESTED, LEAD_UPSERTED
from outreach_ops.cli import app
from outreach_ops.rebuild import rebuild_projection
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.events import Decoded
from servicekit.messaging.kafka_admin import OpsError
from servicekit.process.db import create_engine
from servicekit.testing import Database, publish_envelopes, publish_raw

pytestmark = pytest.mark.kafka

metadata = MetaData()
fresh = Table("audit_requests_rebuild", metadata, Column("lead_id", String(36), primary_key=True),
              Column("requests", Integer, nullable=False))


async def _create(conn: AsyncConnection) -> None:
    await conn.run_sync(metadata.create_all)


async def _count(item: Decoded, conn: AsyncConnection) -> None:
    lead = str(item.envelope.lead_id)
    row = (await conn.execute(select(fresh.c.requests).where(fresh.c.lead_id == lead))).scalar_one_or_none()
    if row is None:
        await conn.execute(fresh.insert().values(lead_id=lead, requests=1))
    else:
        await conn.execute(fresh.update().where(fresh.c.lead_id == lead).values(requests=row + 1))


async def test_rebuild_fills_a_fresh_table_from_the_beginning_and_hands_over_to_a_fresh_group(
    ops_topic: OpsTopic, sqlite_database: Database
) -> None:
    await ensure_topics(ops_topic.bootstrap, [AUDIT_REQUESTED], prefix=ops_topic.prefix, include_dlq=False)
    topic = f"{ops_topic.prefix}{AUDIT_REQUESTED.name}"
    lead_a, lead_b = uuid.uuid4(), uuid.uuid4()
    await publish_envelopes(ops_topic.bootstrap, topic, [audit_requested(lead_id=lead_a) for _ in range(3)]
                            + [audit_requested(lead_id=lead_b)])
    await publish_raw(ops_topic.bootstrap, topic, [(b"x", b"not json", [])])
    engine = create_engine(sqlite_database.url)
    group = f"{ops_topic.prefix}svc.rebuild-1"
    seen: list[int] = []
    try:
        result = await rebuild_projection(ops_topic.bootstrap, [topic], _count, engine, prepare=_create,
                                          group_id=group, batch_size=2, progress=seen.append)
        async with engine.connect() as conn:
            rows = {r[0]: r[1] for r in (await conn.execute(select(fresh.c.lead_id, fresh.c.requests))).all()}
    finally:
        await engine.dispose()
    assert rows == {str(lead_a): 3, str(lead_b): 1}
    assert (result.applied, result.undecodable, sum(seen)) == (4, 1, 4)
    assert result.end_offsets is not None
    ends = {tp.partition: end for tp, end in result.end_offsets.items()}
    assert sum(ends.values()) == 5
    assert await committed(ops_topic.bootstrap, group, topic) == ends


async def test_rebuild_refuses_a_group_that_has_live_members(ops_topic: OpsTopic, sqlite_database: Database) -> None:
    group = f"{ops_topic.prefix}svc.busy"
    member = await live_member(ops_topic.bootstrap, ops_topic.name, group)
    engine = create_engine(sqlite_database.url)
    try:
        with pytest.raises(OpsError, match="live members"):
            await rebuild_projection(ops_topic.bootstrap, [ops_topic.name], _count, engine, group_id=group)
    finally:
        await member.stop()
        await engine.dispose()


def test_cli_rebuild_loads_the_service_spec_and_fills_the_named_table(
    ops_topic: OpsTopic, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = uuid.uuid4()

    async def setup() -> None:
        await ensure_topics(ops_topic.bootstrap, [AUDIT_REQUESTED], prefix=ops_topic.prefix, include_dlq=False)
        await publish_envelopes(ops_topic.bootstrap, f"{ops_topic.prefix}{AUDIT_REQUESTED.name}",
                                [audit_requested(lead_id=lead) for _ in range(2)])

    asyncio.run(setup())
    monkeypatch.setenv("OPS_TEST_DATABASE_URL", sqlite_database.url)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [
        "--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix,
        "rebuild", "ops_rebuild_spec:rebuild_spec", "--table", "requests_v2", "--yes"])
    assert result.exit_code == 0, result.output
    assert "applied 2 record(s) into requests_v2" in result.output

    async def read() -> list[tuple[str, int]]:
        engine = create_engine(sqlite_database.url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT lead_id, requests FROM requests_v2"))
                return [(str(r.lead_id), int(r.requests)) for r in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(read()) == [(str(lead), 2)]

    bad = CliRunner().invoke(app, ["--bootstrap", ops_topic.bootstrap, "rebuild", "no_such_module:x", "--table", "t"])
    assert bad.exit_code == 2 and "cannot load rebuild spec" in bad.output


async def test_a_sequential_rebuild_reads_the_topics_in_the_given_order_and_flushes_every_batch(
    ops_topic: OpsTopic, sqlite_database: Database
) -> None:
    await ensure_topics(ops_topic.bootstrap, [AUDIT_REQUESTED, LEAD_UPSERTED], prefix=ops_topic.prefix,
                        include_dlq=False)
    first, second = (f"{ops_topic.prefix}{t.name}" for t in (LEAD_UPSERTED, AUDIT_REQUESTED))
    await publish_envelopes(ops_topic.bootstrap, second, [audit_requested(domain="second.test") for _ in range(3)])
    await publish_envelopes(ops_topic.bootstrap, first, [audit_requested(domain="first.test") for _ in range(3)])
    seen: list[str] = []
    flushed: list[int] = []

    async def record(item: Decoded, conn: AsyncConnection) -> None:
        seen.append(item.envelope.data["domain"])

    async def flush(conn: AsyncConnection) -> None:
        flushed.append(len(seen))

    engine = create_engine(sqlite_database.url)
    try:
        result = await rebuild_projection(ops_topic.bootstrap, [first, second], record, engine, flush=flush,
                                          sequential=True, batch_size=4)
    finally:
        await engine.dispose()
    assert seen == ["first.test"] * 3 + ["second.test"] * 3
    assert (result.applied, flushed) == (6, [4, 6])
