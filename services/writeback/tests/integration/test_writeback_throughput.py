"""Unlinked leads need no PlusVibe call, so the consumer applies them in large set-wise batches."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import func, select
from writeback_testkit import ServiceRunner, audit_completed, publish, update_requests

from plusvibe.testing import Sim
from servicekit.testing import wait_until
from writeback.adapters.orm import writeback_attempts

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEADS = int(os.environ.get("WRITEBACK_TEST_THROUGHPUT_LEADS", "3000"))


async def test_unlinked_audits_are_applied_in_bulk_without_plusvibe_calls(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    await publish(kafka_bootstrap, topics, [audit_completed(uuid.uuid4()) for _ in range(LEADS)])
    t = writeback_attempts
    async with run_service() as svc:

        async def applied() -> bool:
            async with svc.runtime.engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(t))).scalar_one()) == LEADS

        await wait_until(applied, timeout_s=60, interval_s=0.1, what="every audit applied")
        async with svc.runtime.engine.connect() as conn:
            first, last, batches = (await conn.execute(
                select(func.min(t.c.created_at), func.max(t.c.created_at), func.count(func.distinct(t.c.created_at)))
            )).one()
    # `created_at` is the batch's clock: first..last spans every batch but the first one's own work.
    span = (last - first).total_seconds()
    rate = (LEADS - LEADS / batches) / span if span > 0 else float("inf")
    print(f"\n[throughput] {LEADS} unlinked AuditCompleted in {batches} batches over {span:.2f}s: {rate:.0f} leads/s")
    assert update_requests(sim.state) == []
    assert rate >= 500
