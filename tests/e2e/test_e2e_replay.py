"""Ops replay through the CLI: `audits.audit-completed.v1` replayed from earliest into the leads and writeback
consumer groups leaves every lead unchanged and makes 0 PlusVibe calls (docs/ARCHITECTURE.md, Delivery semantics)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from e2e_testkit import E2E

from contracts.topics import AUDIT_COMPLETED

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
MUTATING = ("/lead/add", "/lead/data/update", "/lead/update/status", "/lead/delete", "/unibox/emails/reply")


async def all_leads(e2e: E2E) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        body = (await e2e.api.get("/api/leads", params={"page": page, "pageSize": 200})).json()
        for item in body["items"]:
            out[item["id"]] = item
        if page * 200 >= body["total"]:
            return out
        page += 1


async def mutating_calls(e2e: E2E) -> int:
    log = (await e2e.sim.get("/_sim/requests")).json()["requests"]
    return sum(1 for r in log if r["path"].endswith(MUTATING))


async def lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()] or \
            [tp for tp in committed if tp.topic == topic]
        ends = await consumer.end_offsets(partitions)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


def ops(e2e: E2E, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": e2e.config.kafka_bootstrap,
           "KAFKA_TOPIC_PREFIX": e2e.config.topic_prefix}
    return subprocess.run([sys.executable, "-m", "outreach_ops", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_replaying_audit_completed_changes_no_lead_and_calls_plusvibe_zero_times(e2e: E2E) -> None:
    # Some history first: an audited, pushed lead (the other tests of this module may have added more).
    created = (await e2e.api.post("/api/leads", json={"companyName": "Northwind Replay", "domain":
                                                      "northwind-bakery.test",
                                                      "contact": {"firstName": "Rae", "email": "replay@northwind-bakery.test"}})).json()
    await e2e.api.post(f"/api/leads/{created['id']}/audits")
    for _ in range(300):
        shown = (await e2e.api.get(f"/api/leads/{created['id']}")).json()
        if shown["status"] == "email_generated":
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(f"the lead never reached email_generated: {shown}")
    campaigns = (await e2e.api.get("/api/plusvibe/campaigns")).json()
    active = next(c["id"] for c in campaigns if c["status"] == "ACTIVE")
    pushed = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": active, "leadIds": [created["id"]]})
    assert pushed.status_code == 200, pushed.text
    await asyncio.sleep(1.0)
    before = await all_leads(e2e)
    calls_before = await mutating_calls(e2e)
    topic = f"{e2e.config.topic_prefix}{AUDIT_COMPLETED.name}"
    groups = {"leads-consumers": "leads.on_audit_completed", "writeback-consumers": "writeback.on_audit_completed"}

    # The CLI refuses while the groups have live members.
    refused = ops(e2e, "replay", AUDIT_COMPLETED.name, "--group", "leads.on_audit_completed", "--from-earliest", "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr

    for process in groups:
        e2e.system.stop_process(process)
    for group in groups.values():
        result = ops(e2e, "replay", AUDIT_COMPLETED.name, "--group", group, "--from-earliest", "--yes",
                     "--export", str(e2e.config.state_dir / f"offsets-{group}.json"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert await lag(e2e.config.kafka_bootstrap, f"{e2e.config.topic_prefix}{group}", topic) > 0
    for process in groups:
        e2e.system.start_process(process)
    for group in groups.values():
        for _ in range(300):
            if await lag(e2e.config.kafka_bootstrap, f"{e2e.config.topic_prefix}{group}", topic) == 0:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"{group} did not catch up after the replay")
    await asyncio.sleep(2.0)  # anything a replayed record would have triggered has had time to land

    after = await all_leads(e2e)
    assert {k: (v["version"], v["status"], v["plusvibeLeadData"]) for k, v in after.items()} == \
        {k: (v["version"], v["status"], v["plusvibeLeadData"]) for k, v in before.items()}
    assert await mutating_calls(e2e) == calls_before
