"""Newest wins and replays: a stale AuditCompleted and a replay of every topic change nothing in PlusVibe."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from writeback_testkit import T0, ServiceRunner, audit_completed, enrol, lead_upserted, publish, update_requests

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import WRITEBACK_COMPLETED
from plusvibe.testing import Sim
from servicekit.process.tables import outbox
from servicekit.testing import read_topic, wait_until
from writeback.bootstrap import WritebackService

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _outbox_count(svc: WritebackService) -> int:
    async with svc.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


def _applied(svc: WritebackService, handler: str) -> int:
    return sum(c.stats.applied for c in svc.runtime.consumers if c.group.endswith(handler))


async def test_stale_audit_and_full_replay_make_no_plusvibe_call_and_no_new_event(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    campaign = sim.campaigns["active"]
    linked = {uuid.uuid4(): f"l{i}@replay.test" for i in range(3)}
    unlinked = [uuid.uuid4() for _ in range(3)]
    enrol(sim.state, sim.workspace_id, campaign, list(linked.values()))
    audits = {lead: audit_completed(lead, requested_at=T0 + timedelta(hours=1)) for lead in [*linked, *unlinked]}
    # The outbox is the record of what the service published: its relay keeps published rows (marked sent).
    async with run_service(outbox_keep_sent_s=86_400) as svc:
        await publish(kafka_bootstrap, topics, [lead_upserted(lead, email=e, campaign_id=campaign)
                                                for lead, e in linked.items()])
        await wait_until(lambda: _ready(_applied(svc, "on_lead_upserted") >= 3), timeout_s=30, what="snapshots")
        await publish(kafka_bootstrap, topics, list(audits.values()))
        await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=6, timeout_s=30)
        calls, events = len(update_requests(sim.state)), await _outbox_count(svc)
        assert (calls, events) == (3, 6)

        stale_lead = next(iter(linked))
        await publish(kafka_bootstrap, topics, [audit_completed(stale_lead, requested_at=T0)])
        await wait_until(lambda: _ready(_applied(svc, "on_audit_completed") >= 7), timeout_s=30, what="stale audit")
        await asyncio.sleep(0.5)
        async with svc.runtime.uow() as uow:
            row = await uow.repo.projection(stale_lead, DEFAULT_WORKSPACE)
        assert row is not None and row["audit_run_id"] == audits[stale_lead].audit_run_id
        assert (len(update_requests(sim.state)), await _outbox_count(svc)) == (calls, events)

    # Ops replay every topic from the beginning (new consumer groups, same database).
    async with run_service(service_name="writeback-replay", outbox_keep_sent_s=86_400) as replay:
        await wait_until(lambda: _ready(_applied(replay, "on_audit_completed") >= 7
                                        and _applied(replay, "on_lead_upserted") >= 3),
                         timeout_s=30, what="the replay")
        await asyncio.sleep(0.5)
        assert (len(update_requests(sim.state)), await _outbox_count(replay)) == (calls, events)
    print(f"\n[replay] 7 AuditCompleted + 3 LeadUpserted replayed: {len(update_requests(sim.state)) - calls} "
          f"PlusVibe calls, {await _count_topic(kafka_bootstrap, topics) - 6} new WritebackCompleted")


async def _count_topic(bootstrap: str, prefix: str) -> int:
    return len(await read_topic(bootstrap, f"{prefix}{WRITEBACK_COMPLETED.name}", expected=1000, timeout_s=1))


async def _ready(value: bool) -> bool:
    return value
