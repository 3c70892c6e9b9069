"""Rebuilding writeback's per-lead projection on the real service: the live consumers apply a history (snapshot
versions out of order, pushes, removals, re-pushes, deletes, stale and re-published audits, published topic by
topic in an order unlike the events' own); `outreach-ops rebuild writeback.ops:rebuild_spec` (its own process)
builds a fresh table that equals the live one row by row; `rebuild-swap` makes it the live table, and the
restarted service applies new events to it and still recognises a re-published audit as already written back
(its `last_attempt_id` was carried over)."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine
from writeback_testkit import (
    PROFILE,
    T0,
    ServiceRunner,
    audit_completed,
    enrol,
    lead_pushed,
    lead_removed,
    lead_upserted,
    publish,
)
from writeback_testkit import update_requests as plusvibe_updates

from contracts.audits import AuditCompleted
from contracts.envelope import Envelope, EventData
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import (
    AUDIT_COMPLETED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_UPSERTED,
    TOPIC_BY_EVENT_TYPE,
)
from plusvibe.testing import Sim
from servicekit.messaging.rebuild_spec import fresh_table
from servicekit.process.db import create_engine
from servicekit.testing import Database, committed_total, differing_rows, run_ops, wait_until
from writeback.adapters.orm import lead_projection, writeback_attempts
from writeback.ops import NOT_DERIVED

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

GROUPS = {LEAD_UPSERTED.name: "on_lead_upserted", LEAD_PUSHED.name: "on_lead_pushed",
          LEAD_REMOVED_FROM_CAMPAIGN.name: "on_lead_removed_from_campaign", AUDIT_COMPLETED.name: "on_audit_completed"}
BULK_LEADS = 150
FRESH = "lead_projection_rebuild"


def _history(campaign: str, other: str) -> tuple[list[EventData], dict[str, uuid.UUID], dict[uuid.UUID, str]]:
    """Events of several leads. As leads publishes them, a push or removal comes with a new snapshot stamped
    with the same time (a tie goes to the explicit event)."""
    m = timedelta(minutes=1)
    lead = {name: uuid.uuid4() for name in ("versions", "pushed", "removed", "repushed", "audits", "deleted",
                                            "audit_only", "push_first")}
    emails = {lead_id: f"{name}@rebuild.test" for name, lead_id in lead.items()}
    e = emails.__getitem__
    events: list[EventData] = []
    # Snapshot versions published out of order: v3 first, then v1 and v2 (stale).
    v = lead["versions"]
    events += [lead_upserted(v, version=3, email=e(v), company="Three", at=T0 + 3 * m),
               lead_upserted(v, version=1, email="old@rebuild.test", company="One", at=T0 + m),
               lead_upserted(v, version=2, email="older@rebuild.test", company="Two", at=T0 + 2 * m)]
    # Pushed (with the pushed address), then audited: linked, so the audit is delivered to PlusVibe.
    p = lead["pushed"]
    events += [lead_upserted(p, email=e(p), at=T0), lead_pushed(p, campaign, e(p), at=T0 + 10 * m),
               lead_upserted(p, version=2, email=e(p), campaign_id=campaign, at=T0 + 10 * m),
               audit_completed(p, requested_at=T0 + 20 * m)]
    # Pushed, then removed from the campaign.
    r = lead["removed"]
    events += [lead_upserted(r, email=e(r), at=T0), lead_pushed(r, campaign, e(r), at=T0 + 10 * m),
               lead_upserted(r, version=2, email=e(r), campaign_id=campaign, at=T0 + 10 * m),
               lead_removed(r, campaign, e(r), at=T0 + 20 * m),
               lead_upserted(r, version=3, email=e(r), campaign_id=None, at=T0 + 20 * m)]
    # Pushed to one campaign, then to another (the later push wins), with a later plain update.
    q = lead["repushed"]
    events += [lead_upserted(q, email=e(q), at=T0), lead_pushed(q, campaign, e(q), at=T0 + 10 * m),
               lead_upserted(q, version=2, email=e(q), campaign_id=campaign, at=T0 + 10 * m),
               lead_pushed(q, other, f"x.{e(q)}", at=T0 + 30 * m),
               lead_upserted(q, version=3, email=e(q), campaign_id=other, at=T0 + 30 * m),
               lead_upserted(q, version=4, email=e(q), campaign_id=other, company="Renamed", at=T0 + 40 * m)]
    # Audits: the newer run first, then an older one (stale), then the newer one re-published.
    a = lead["audits"]
    newer = audit_completed(a, requested_at=T0 + 2 * 60 * m, profile={**PROFILE, "audit_grade": "A"})
    events += [lead_upserted(a, email=e(a), at=T0), newer, audit_completed(a, requested_at=T0 + 60 * m), newer]
    # Deleted: the tombstone snapshot.
    d = lead["deleted"]
    events += [lead_upserted(d, email=e(d), campaign_id=campaign, at=T0),
               lead_upserted(d, version=2, email=e(d), campaign_id=campaign, at=T0 + m).model_copy(
                   update={"deleted": True})]
    # Events about a lead no snapshot has announced (yet): a row with snapshot_version 0.
    events += [audit_completed(lead["audit_only"], requested_at=T0 + 5 * m)]
    f = lead["push_first"]
    events += [lead_pushed(f, other, e(f), at=T0 + 10 * m)]
    return events, lead, emails


def _bulk() -> list[EventData]:
    events: list[EventData] = []
    for i in range(BULK_LEADS):
        lead_id = uuid.uuid4()
        events += [lead_upserted(lead_id, email=f"bulk{i}@rebuild.test", company=f"Bulk {i}"),
                   lead_upserted(lead_id, version=2, email=f"bulk{i}@rebuild.test", company=f"Bulk {i} Ltd",
                                 at=T0 + timedelta(minutes=5)),
                   audit_completed(lead_id, requested_at=T0 + timedelta(hours=1))]
    return events


async def _publish_unordered(bootstrap: str, prefix: str, events: list[EventData]
                             ) -> tuple[Counter[str], list[Envelope]]:
    """Topic by topic, removals and audits first, snapshots last: the consumers see the topics in no
    particular order relative to each other, as after an outage of one of them."""
    order = [LEAD_REMOVED_FROM_CAMPAIGN.name, AUDIT_COMPLETED.name, LEAD_PUSHED.name, LEAD_UPSERTED.name]
    by_topic: dict[str, list[EventData]] = {}
    for event in events:
        by_topic.setdefault(TOPIC_BY_EVENT_TYPE[event.EVENT_TYPE].name, []).append(event)
    envelopes: list[Envelope] = []
    for topic in order:
        envelopes += await publish(bootstrap, prefix, by_topic.get(topic, []))
    return Counter({topic: len(batch) for topic, batch in by_topic.items()}), envelopes


async def _consumed_all(bootstrap: str, prefix: str, published: Counter[str]) -> bool:
    for topic, handler in GROUPS.items():
        if await committed_total(bootstrap, f"{prefix}writeback.{handler}") < published[topic]:
            return False
    return True


async def _attempts(engine: AsyncEngine, lead_id: uuid.UUID, status: str | None = None) -> int:
    t = writeback_attempts
    query = select(func.count()).select_from(t).where(t.c.lead_id == lead_id)
    if status is not None:
        query = query.where(t.c.status == status)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _last_attempts(engine: AsyncEngine, table: Table) -> dict[uuid.UUID, uuid.UUID | None]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(table.c.lead_id, table.c.last_attempt_id))).all())


async def test_a_rebuilt_projection_equals_the_live_one_and_takes_over_after_the_swap(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str, pg_database: Database
) -> None:
    campaign, other = sim.campaigns["active"], sim.campaigns["paused"]
    events, lead, emails = _history(campaign, other)
    p = lead["pushed"]
    # The pushed lead's audit completes once it is linked (its writeback then goes to PlusVibe).
    audit = next(ev for ev in events if isinstance(ev, AuditCompleted) and ev.lead_id == p)
    events.remove(audit)
    enrol(sim.state, sim.workspace_id, campaign, [emails[p]])
    ops_env = {"WRITEBACK_DATABASE_URL": pg_database.url, "WRITEBACK_DB_SCHEMA": pg_database.schema}
    ops = ("--bootstrap", kafka_bootstrap, "--prefix", topics)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    fresh = fresh_table(lead_projection, FRESH)
    try:
        async with run_service() as svc:
            published, envelopes = await _publish_unordered(kafka_bootstrap, topics, events + _bulk())
            await wait_until(lambda: _consumed_all(kafka_bootstrap, topics, published), timeout_s=90,
                             what="the live consumers to apply the history")
            more, _ = await _publish_unordered(kafka_bootstrap, topics, [audit])
            published += more
            await wait_until(lambda: _ready_count(_attempts(svc.runtime.engine, p, "delivered"), 1), timeout_s=30,
                             what="the pushed lead's writeback delivered")
            await wait_until(lambda: _consumed_all(kafka_bootstrap, topics, published), timeout_s=30,
                             what="the audit")
        async with engine.connect() as conn:
            live_rows = int((await conn.execute(select(func.count()).select_from(lead_projection))).scalar_one())
        assert live_rows == len(lead) + BULK_LEADS
        live_attempts = await _last_attempts(engine, lead_projection)

        # The service's consumers are stopped: rebuild, compare, swap (docs/KUBERNETES-RUNBOOK.md).
        started = time.monotonic()
        code, out = await run_ops(*ops, "rebuild", "writeback.ops:rebuild_spec", "--table", FRESH, "--yes",
                                  env=ops_env)
        rebuild_s, out_rebuild = time.monotonic() - started, out
        records = sum(published.values())
        assert code == 0, out
        assert f"applied {records} record(s) into {FRESH}" in out, out

        compared, differences = await differing_rows(engine, lead_projection, FRESH, ignore=NOT_DERIVED)
        assert differences == {}
        assert compared == live_rows
        async with engine.connect() as conn:
            rebuilt = {r.lead_id: r for r in await conn.execute(select(fresh))}
        assert (rebuilt[lead["versions"]].company_name, rebuilt[lead["versions"]].snapshot_version) == ("Three", 3)
        assert (rebuilt[p].campaign_id, rebuilt[p].link_email) == (campaign, emails[p])
        assert rebuilt[lead["removed"]].campaign_id is None
        assert (rebuilt[lead["repushed"]].campaign_id, rebuilt[lead["repushed"]].company_name) == (other, "Renamed")
        assert rebuilt[lead["audit_only"]].snapshot_version == 0
        # Not derived, so not compared: the write time is the event's own, the last attempt is unknown.
        audit_only = next(env for env in envelopes if env.lead_id == lead["audit_only"])
        assert rebuilt[lead["audit_only"]].updated_at == audit_only.occurred_at
        assert all(row.last_attempt_id is None for row in rebuilt.values())

        code, out = await run_ops(*ops, "rebuild-compare", "writeback.ops:rebuild_spec", "--table", FRESH,
                                  env=ops_env)
        assert code == 0, out
        assert "only in lead_projection: 0; only in lead_projection_rebuild: 0; differing: 0" in out, out
        assert "not on last_attempt_id, updated_at" in out and "equal" in out

        code, out = await run_ops(*ops, "rebuild-swap", "writeback.ops:rebuild_spec", "--table", FRESH, "--yes",
                                  env=ops_env)
        assert code == 0, out
        assert f"{live_rows} carried last_attempt_id over" in out, out
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            primary_key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("lead_projection")["name"])
        assert {"lead_projection", "lead_projection_old"} <= tables and FRESH not in tables
        assert primary_key == "lead_projection_pkey"
        assert await _last_attempts(engine, lead_projection) == live_attempts

        # The service on the swapped table: new events apply to it; a re-published audit is a replay.
        async with run_service() as svc:
            calls, attempts = len(plusvibe_updates(sim.state)), await _attempts(engine, p)
            more, _ = await _publish_unordered(kafka_bootstrap, topics, [
                lead_upserted(p, version=3, email="after.swap@rebuild.test", campaign_id=campaign,
                              at=T0 + timedelta(hours=5)),
                audit,
            ])
            published += more
            await wait_until(lambda: _consumed_all(kafka_bootstrap, topics, published), timeout_s=60,
                             what="the events after the swap")
            async with svc.runtime.uow() as uow:
                row = await uow.repo.projection(p, DEFAULT_WORKSPACE)
            assert row is not None
            assert (row["contact_email"], row["snapshot_version"], row["link_email"]) == (
                "after.swap@rebuild.test", 3, emails[p])
            assert (len(plusvibe_updates(sim.state)), await _attempts(engine, p)) == (calls, attempts)
    finally:
        await engine.dispose()
    print(f"\n[rebuild] writeback: {records} records rebuilt into {compared} rows, compared row by "
          f"row on {len(lead_projection.c) - len(NOT_DERIVED)} columns ({', '.join(NOT_DERIVED)} left out): equal; "
          f"`outreach-ops rebuild` {_applied_in(out_rebuild)} s reading and writing, {rebuild_s:.1f} s wall "
          "(its own process, start-up included)")


async def _ready_count(count: Awaitable[int], at_least: int) -> bool:
    return await count >= at_least


def _applied_in(out: str) -> str:
    found = re.search(r"record\(s\) into \S+ in ([0-9.]+) s", out)
    return found.group(1) if found else "?"
