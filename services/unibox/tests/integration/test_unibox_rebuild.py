"""Rebuilding unibox's email→lead projection on the real service: the live consumer applies LeadUpserted
versions published out of order (address changes, deletes, two leads sharing an address);
`outreach-ops rebuild unibox.ops:rebuild_spec` (its own process) builds a fresh table equal to the live one row
by row; `rebuild-swap` makes it the live table (the opens poller's `opens_checked_at` carried over), and the
restarted consumer applies new snapshots to it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from unibox_testkit import settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.envelope import Envelope
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.leads import LeadUpserted
from contracts.status import LeadStatus
from contracts.topics import LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.events import new_envelope
from servicekit.messaging.rebuild_spec import fresh_table
from servicekit.process.db import create_engine
from servicekit.process.runtime import run_consumers_until_stopped
from servicekit.testing import Database, committed_total, differing_rows, publish_envelopes, run_ops, wait_until
from unibox.adapters.orm import lead_projection
from unibox.bootstrap import UniboxService, bootstrap
from unibox.ops import NOT_DERIVED

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEADS = 120
FRESH = "lead_projection_rebuild"


def _upserted(lead_id: uuid.UUID, version: int, email: str | None, *, campaign: str | None = None,
              status: LeadStatus = LeadStatus.NEW, deleted: bool = False) -> LeadUpserted:
    snapshot = LeadSnapshot(lead_id=lead_id, version=version, contact=Contact(first_name="Ana", email=email),
                            status=status, campaign_id=campaign, created_at=T0,
                            updated_at=T0 + timedelta(minutes=version))
    return LeadUpserted(lead_id=lead_id, lead=snapshot, deleted=deleted)


def _history() -> tuple[list[LeadUpserted], dict[str, uuid.UUID]]:
    """Per lead, versions out of order: v2, v1 (stale), v3 (a new address, in capitals), and for some a delete."""
    events: list[LeadUpserted] = []
    leads: dict[str, uuid.UUID] = {}
    for i in range(LEADS):
        lead_id = uuid.uuid4()
        leads[f"lead{i}"] = lead_id
        events += [_upserted(lead_id, 2, f"l{i}@unibox.test", campaign="camp-a", status=LeadStatus.EMAIL_SENT),
                   _upserted(lead_id, 1, f"first{i}@unibox.test")]
        if i % 3 == 0:
            events.append(_upserted(lead_id, 3, f"New.L{i}@Unibox.Test", campaign="camp-b"))
        if i % 10 == 0:
            events.append(_upserted(lead_id, 4, f"new.l{i}@unibox.test", campaign="camp-b", deleted=True))
    shared_a, shared_b, no_email = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    leads.update(shared_a=shared_a, shared_b=shared_b, no_email=no_email)
    events += [_upserted(shared_a, 1, "shared@unibox.test", campaign="camp-a"),
               _upserted(shared_b, 1, "shared@unibox.test", campaign="camp-b"),
               _upserted(no_email, 1, None)]
    return events, leads


@contextlib.asynccontextmanager
async def _consumers(service: UniboxService) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumers_until_stopped(service.runtime, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _publish(bootstrap: str, topic: str, events: list[LeadUpserted]) -> list[Envelope]:
    envelopes = [new_envelope(e) for e in events]
    await publish_envelopes(bootstrap, topic, envelopes)
    return envelopes


async def test_a_rebuilt_projection_equals_the_live_one_and_takes_over_after_the_swap(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str
) -> None:
    # Every topic the service consumes: a consumer of a topic that does not exist waits for it.
    await ensure_topics(kafka_bootstrap, [LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED], prefix=topic_prefix)
    topic, group = f"{topic_prefix}{LEAD_UPSERTED.name}", f"{topic_prefix}unibox.on_lead_upserted"
    settings = settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    stub: Any = object()  # the consumer never calls PlusVibe
    events, leads = _history()
    checked_at = T0 + timedelta(days=1)
    ops_env = {"UNIBOX_DATABASE_URL": pg_database.url, "UNIBOX_DB_SCHEMA": pg_database.schema}
    ops = ("--bootstrap", kafka_bootstrap, "--prefix", topic_prefix)
    engine = create_engine(pg_database.url, schema=pg_database.schema)
    fresh = fresh_table(lead_projection, FRESH)
    try:
        service = bootstrap(settings, plusvibe=stub)
        await service.runtime.migrate()
        async with _consumers(service):
            envelopes = await _publish(kafka_bootstrap, topic, events)
            await wait_until(lambda: _at_least(committed_total(kafka_bootstrap, group), len(events)), timeout_s=60,
                             what="the live consumer to apply the history")
        # The opens poller's own state, which no topic carries.
        async with service.uow() as uow:
            for name in ("lead1", "lead2"):
                await uow.leads.mark_checked(DEFAULT_WORKSPACE, leads[name], checked_at)
            await uow.commit()
        await service.runtime.dispose()
        async with engine.connect() as conn:
            live_rows = int((await conn.execute(select(func.count()).select_from(lead_projection))).scalar_one())
        assert live_rows == len(leads)

        # The consumer is stopped: rebuild, compare, swap (docs/KUBERNETES-RUNBOOK.md).
        started = time.monotonic()
        code, out = await run_ops(*ops, "rebuild", "unibox.ops:rebuild_spec", "--table", FRESH, "--yes", env=ops_env)
        rebuild_s, out_rebuild = time.monotonic() - started, out
        assert code == 0, out
        assert f"applied {len(events)} record(s) into {FRESH}" in out, out

        compared, differences = await differing_rows(engine, lead_projection, FRESH, ignore=NOT_DERIVED)
        assert differences == {}
        assert compared == live_rows
        async with engine.connect() as conn:
            rebuilt = {r.lead_id: r for r in await conn.execute(select(fresh))}
        assert (rebuilt[leads["lead3"]].email, rebuilt[leads["lead3"]].version) == ("new.l3@unibox.test", 3)
        assert (rebuilt[leads["lead1"]].email, rebuilt[leads["lead1"]].version) == ("l1@unibox.test", 2)
        assert rebuilt[leads["lead10"]].deleted and rebuilt[leads["no_email"]].email is None
        # Not derived, so not compared: the write time is the snapshot event's own; the poller's time is unknown.
        v3 = next(env for env in envelopes if env.lead_id == leads["lead3"] and env.data["lead"]["version"] == 3)
        assert rebuilt[leads["lead3"]].updated_at == v3.occurred_at
        assert all(row.opens_checked_at is None for row in rebuilt.values())

        code, out = await run_ops(*ops, "rebuild-compare", "unibox.ops:rebuild_spec", "--table", FRESH, env=ops_env)
        assert code == 0, out
        assert "only in lead_projection: 0; only in lead_projection_rebuild: 0; differing: 0" in out, out
        assert "not on opens_checked_at, updated_at" in out and "equal" in out

        code, out = await run_ops(*ops, "rebuild-swap", "unibox.ops:rebuild_spec", "--table", FRESH, "--yes",
                                  env=ops_env)
        assert code == 0, out
        assert f"{live_rows} carried opens_checked_at over" in out, out
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: {t: sorted(i["name"] for i in inspect(c).get_indexes(t))
                                                     for t in ("lead_projection", "lead_projection_old")})
            checked = dict((await conn.execute(select(lead_projection.c.lead_id, lead_projection.c.opens_checked_at)
                                               .where(lead_projection.c.opens_checked_at.is_not(None)))).all())
        assert indexes == {"lead_projection": ["ix_lead_projection_email"],
                           "lead_projection_old": ["ix_lead_projection_old_email"]}
        assert checked == {leads["lead1"]: checked_at, leads["lead2"]: checked_at}

        # The service on the swapped table: a new snapshot moves lead 1 to a new address.
        service = bootstrap(settings, plusvibe=stub)
        async with _consumers(service):
            async with service.uow() as uow:
                assert (found := await uow.leads.find(DEFAULT_WORKSPACE, "shared@unibox.test", "camp-a")) is not None
                assert found.lead_id == leads["shared_a"]
            await _publish(kafka_bootstrap, topic, [_upserted(leads["lead1"], 5, "moved@unibox.test",
                                                              campaign="camp-a")])
            await wait_until(lambda: _at_least(committed_total(kafka_bootstrap, group), len(events) + 1),
                             timeout_s=30, what="the snapshot after the swap")
            async with service.uow() as uow:
                moved = await uow.leads.find(DEFAULT_WORKSPACE, "moved@unibox.test")
                gone = await uow.leads.find(DEFAULT_WORKSPACE, "l1@unibox.test")
        await service.runtime.dispose()
        assert moved is not None and moved.lead_id == leads["lead1"] and gone is None
    finally:
        await engine.dispose()
    print(f"\n[rebuild] unibox: {len(events)} records rebuilt into {compared} rows, compared row by row on "
          f"{len(lead_projection.c) - len(NOT_DERIVED)} columns ({', '.join(NOT_DERIVED)} left out): equal; "
          f"`outreach-ops rebuild` {_applied_in(out_rebuild)} s reading and writing, {rebuild_s:.1f} s wall "
          "(its own process, start-up included)")


async def _at_least(total: Any, expected: int) -> bool:
    return int(await total) >= expected


def _applied_in(out: str) -> str:
    found = re.search(r"record\(s\) into \S+ in ([0-9.]+) s", out)
    return found.group(1) if found else "?"
