"""The consumer process is SIGKILLed mid-stream and restarted: every lead is applied exactly once."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from writeback_testkit import audit_completed, enrol, lead_upserted, publish, update_requests

from contracts.envelope import Envelope
from plusvibe.testing import Sim
from servicekit.process.db import create_engine
from servicekit.process.tables import outbox
from servicekit.testing import Database, wait_until
from writeback.adapters.orm import lead_projection, writeback_attempts

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
UNLINKED = 1500
LINKED = 20


@pytest.fixture
async def engine(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(pg_database.url, schema=pg_database.schema)
    yield eng
    await eng.dispose()


def _spawn(db: Database, bootstrap: str, prefix: str, sim: Sim) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WRITEBACK_DATABASE_URL": db.url, "WRITEBACK_DB_SCHEMA": db.schema,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
        "WRITEBACK_CONSUMER_MAX_RECORDS": "100", "WRITEBACK_DELIVERY_LEASE_S": "4",
        "WRITEBACK_DELIVERY_POLL_INTERVAL_S": "0.1", "LOG_LEVEL": "WARNING",
        "PLUSVIBE_BASE_URL": sim.base_url, "PLUSVIBE_API_KEY": sim.state.api_key,
        "PLUSVIBE_WORKSPACE_ID": sim.workspace_id, "PLUSVIBE_REQUESTS_PER_SECOND": "200",
        "PLUSVIBE_TOTAL_DEADLINE_S": "3",
    }
    return subprocess.Popen([sys.executable, "-m", "writeback.entrypoints.consumers"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _scalar(engine: AsyncEngine, query: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_a_consumer_killed_mid_stream_applies_every_lead_exactly_once_after_restart(
    engine: AsyncEngine, pg_database: Database, kafka_bootstrap: str, topics: str, sim: Sim
) -> None:
    campaign = sim.campaigns["active"]
    linked = {uuid.uuid4(): f"k{i}@kill.test" for i in range(LINKED)}
    unlinked = [uuid.uuid4() for _ in range(UNLINKED)]
    enrol(sim.state, sim.workspace_id, campaign, list(linked.values()))
    total = LINKED + UNLINKED
    attempts = select(func.count()).select_from(writeback_attempts)
    proc = _spawn(pg_database, kafka_bootstrap, topics, sim)
    try:
        await publish(kafka_bootstrap, topics, [lead_upserted(lead, email=e, campaign_id=campaign)
                                                for lead, e in linked.items()])

        async def links() -> bool:
            try:
                q = select(func.count()).select_from(lead_projection).where(lead_projection.c.campaign_id == campaign)
                return await _scalar(engine, q) == LINKED
            except Exception:  # tables not migrated yet
                return False

        await wait_until(links, timeout_s=60, what="the links")
        await publish(kafka_bootstrap, topics, [audit_completed(lead) for lead in [*unlinked, *linked]])
        await wait_until(lambda: _at_least(engine, attempts, 200), timeout_s=60, interval_s=0.02, what="progress")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        at_kill = await _scalar(engine, attempts)
        assert at_kill < total, "the stream was already finished when the consumer was killed"
        proc = _spawn(pg_database, kafka_bootstrap, topics, sim)

        async def all_done() -> bool:
            q = select(func.count()).select_from(writeback_attempts).where(
                writeback_attempts.c.status.in_(["delivered", "unlinked"]))
            return await _scalar(engine, q) == total

        await wait_until(all_done, timeout_s=60, what="every lead applied")
        await asyncio.sleep(1.0)  # anything applied twice would show up now
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    async with engine.connect() as conn:
        per_lead = collections.Counter(r.lead_id for r in await conn.execute(select(writeback_attempts.c.lead_id)))
        payloads = [bytes(r.payload) for r in await conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "WritebackCompleted"))]
    events = collections.Counter(Envelope.model_validate_json(p).data["lead_id"] for p in payloads)
    print(f"\n[sigkill] killed after {at_kill}/{total} leads applied; after restart {len(per_lead)} leads, "
          f"{sum(per_lead.values())} attempts, {sum(events.values())} WritebackCompleted, "
          f"{len(update_requests(sim.state))} PlusVibe updates for {LINKED} linked leads")
    assert set(per_lead) == {*linked, *unlinked} and set(per_lead.values()) == {1}
    assert set(events) == {str(lead) for lead in [*linked, *unlinked]} and set(events.values()) == {1}
    delivered = [r for r in update_requests(sim.state) if r.status == 200]
    assert LINKED <= len(delivered) <= LINKED + 4  # a send cut by the kill is repeated (idempotent upsert)


async def _at_least(engine: AsyncEngine, query: object, n: int) -> bool:
    try:
        return await _scalar(engine, query) >= n
    except Exception:
        return False
