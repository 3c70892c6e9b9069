"""The PlusVibe-bound request rate for N linked leads stays under the account's 5 requests/second."""

from __future__ import annotations

import itertools
import os
import time
import uuid

import pytest
from writeback_testkit import ServiceRunner, audit_completed, enrol, lead_upserted, publish

from contracts.envelope import Envelope
from contracts.topics import WRITEBACK_COMPLETED
from plusvibe.testing import Sim
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
# The suite uses 50 leads (~11 s at 5/s); the 500-lead run: WRITEBACK_TEST_RATE_LEADS=500.
LEADS = int(os.environ.get("WRITEBACK_TEST_RATE_LEADS", "50"))
ACCOUNT_LIMIT = 5.0
# The client's spacing margin (PLUSVIBE_RATE_SAFETY_FACTOR); the library default unless overridden here.
SAFETY = {"rate_safety_factor": float(os.environ["WRITEBACK_TEST_RATE_SAFETY"])} if os.environ.get(
    "WRITEBACK_TEST_RATE_SAFETY") else {}


async def test_linked_leads_are_delivered_at_the_account_rate_without_429s(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    sim.state.rate_limit_per_s = ACCOUNT_LIMIT  # the real account limit, enforced by the simulator
    campaign = sim.campaigns["active"]
    leads = {uuid.uuid4(): f"r{i}@rate.test" for i in range(LEADS)}
    enrol(sim.state, sim.workspace_id, campaign, list(leads.values()))
    async with run_service(plusvibe={"requests_per_second": ACCOUNT_LIMIT, **SAFETY}) as svc:
        await publish(kafka_bootstrap, topics, [lead_upserted(lead, email=email, campaign_id=campaign)
                                                for lead, email in leads.items()])

        async def all_linked() -> bool:
            return sum(c.stats.applied for c in svc.runtime.consumers) >= LEADS

        await wait_until(all_linked, timeout_s=30, what="the links")
        started = time.monotonic()
        await publish(kafka_bootstrap, topics, [audit_completed(lead) for lead in leads])
        records = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=LEADS,
                                   timeout_s=LEADS / 4 + 30)
        elapsed = time.monotonic() - started
    events = [Envelope.model_validate_json(r.value).data for r in records]
    log = [r for r in sim.state.request_log() if r.path.startswith("/api/v1/")]
    span = max(r.mono for r in log) - min(r.mono for r in log)
    too_many = [r for r in log if r.status == 429]
    peak = sim.state.max_requests_in_any_second()
    arrivals = sorted(r.mono for r in log)
    gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
    print(f"\n[rate] {LEADS} linked leads: {len(log)} PlusVibe requests in {span:.1f}s = {len(log) / span:.2f} req/s "
          f"sustained, peak {peak} in any 1 s window, {len(too_many)} × 429; all delivered {elapsed:.1f}s after "
          f"the audits were published; arrival gaps min {gaps[0] * 1000:.0f} ms, "
          f"p1 {gaps[len(gaps) // 100] * 1000:.0f} ms, median {gaps[len(gaps) // 2] * 1000:.0f} ms")
    assert len(events) == LEADS and all(e["delivered"] for e in events)
    assert too_many == []
    assert peak <= ACCOUNT_LIMIT
    assert len(log) == LEADS + 1  # one campaign lookup (cached), then one update per lead
