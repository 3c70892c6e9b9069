"""Deleting a lead (a soft delete): gone from every read, list, search and action of the API, its deletion
announced on the broker (LeadUpserted with `deleted`) for unibox, writeback and other subscribers; a lead still in a
PlusVibe campaign is refused and left as it was (PlusVibe is never touched)."""

from __future__ import annotations

import json
import uuid

import pytest
from leads_testkit import Harness
from sqlalchemy import text

from contracts.topics import LEAD_UPSERTED
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _upserted(harness: Harness, lead_id: str) -> list[dict[str, object]]:
    records = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_UPSERTED), expected=100_000, timeout_s=2)
    return [json.loads(r.value) for r in records if json.loads(r.value)["lead_id"] == lead_id]


async def test_a_deleted_lead_is_gone_from_the_api_and_its_deletion_is_announced(harness: Harness) -> None:
    tag = uuid.uuid4().hex[:8]
    kept = await harness.create_lead(companyName=f"Kept {tag}")
    lead = await harness.create_lead(companyName=f"Deleted {tag}")
    lead_id = lead["id"]

    r = await harness.client.delete(f"/api/leads/{lead_id}")
    assert (r.status_code, r.json()) == (200, {"status": "deleted", "id": lead_id})

    missing = {"reason": "lead_not_found", "message": "No lead with that id."}
    for method, path, body in (("GET", "", None), ("PATCH", "", {"notes": "x"}), ("GET", "/history", None),
                               ("POST", "/audits", None), ("DELETE", "", None), ("GET", "/emails", None)):
        answer = await harness.client.request(method, f"/api/leads/{lead_id}{path}", json=body)
        assert (answer.status_code, answer.json()) == (404, missing), (method, path)
    listed = (await harness.client.get("/api/leads", params={"q": tag})).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"]] and listed["total"] == 1
    push = await harness.client.post("/api/plusvibe/leads/push", json={
        "campaignId": harness.sim.campaigns["active"], "leadIds": [lead_id]})
    assert (push.status_code, push.json()["reason"]) == (404, "lead_not_found")

    async def announced() -> bool:
        return any(e["data"]["deleted"] for e in await _upserted(harness, lead_id))

    await wait_until(announced, timeout_s=30, interval_s=0.3, what="LeadUpserted(deleted) on the broker")
    last = max(await _upserted(harness, lead_id), key=lambda e: e["data"]["lead"]["version"])
    assert last["data"]["deleted"] is True
    assert last["data"]["lead"]["version"] == 2  # created (1), deleted (2): newest-version-wins consumers apply it
    # Kept for the record: the row is still there, marked.
    async with harness.service.runtime.engine.connect() as conn:
        deleted_at = (await conn.execute(text("SELECT deleted_at FROM leads WHERE id = :id"),
                                         {"id": uuid.UUID(lead_id)})).scalar_one()
    assert deleted_at is not None


async def test_a_lead_in_a_plusvibe_campaign_is_not_deleted(harness: Harness) -> None:
    lead = await harness.create_lead()
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE leads SET campaign_id = 'camp-in-plusvibe' WHERE id = :id"),
                           {"id": uuid.UUID(lead["id"])})
    before = await harness.lead(lead["id"])
    calls = len(harness.sim.state.request_log())

    r = await harness.client.delete(f"/api/leads/{lead['id']}")
    assert r.status_code == 409
    assert r.json()["reason"] == "lead_in_campaign" and r.json()["remedy"] == "remove_from_campaign"
    assert "camp-in-plusvibe" in r.json()["message"]
    assert await harness.lead(lead["id"]) == before  # nothing changed, not even the version
    assert len(harness.sim.state.request_log()) == calls  # PlusVibe never called


async def test_a_deleted_lead_flagged_at_risk_is_never_announced_again_as_alive(harness: Harness) -> None:
    """A lead the template check had flagged, then deleted: the next check pass neither resolves nor re-announces it
    (a later LeadUpserted without `deleted` would bring it back in unibox's and writeback's projections)."""
    lead = await harness.create_lead()
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE leads SET send_risk = '{\"campaign_id\": \"c1\"}' WHERE id = :id"),
                           {"id": uuid.UUID(lead["id"])})
    assert (await harness.client.delete(f"/api/leads/{lead['id']}")).status_code == 200
    await harness.service.check_templates()

    async def announced() -> bool:
        return any(e["data"]["deleted"] for e in await _upserted(harness, lead["id"]))

    await wait_until(announced, timeout_s=30, interval_s=0.3, what="the deletion on the broker")
    after_delete = [e for e in await _upserted(harness, lead["id"]) if e["data"]["lead"]["version"] >= 2]
    assert after_delete and all(e["data"]["deleted"] for e in after_delete)
    async with harness.service.runtime.engine.connect() as conn:
        outbox = (await conn.execute(text("SELECT payload FROM outbox"))).scalars().all()
    mine = [json.loads(p) for p in outbox if json.loads(p).get("lead_id") == lead["id"]]
    assert not [e for e in mine if e["event_type"] == "LeadSendAtRisk"]  # no "resolved" for a deleted lead


async def test_a_lead_still_enrolled_in_an_older_campaign_is_not_deleted(harness: Harness) -> None:
    """Pushed to campaign A, then B, then removed from B: the link is gone, but PlusVibe still holds it in A."""
    lead = await harness.create_lead()
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO push_ledger (lead_id, workspace, campaign_id, email, state, variables, pushed_at) "
            "VALUES (:id, 'default', 'camp-a', 'ada@acme.test', 'enrolled', '{}', now()), "
            "(:id, 'default', 'camp-b', 'ada@acme.test', 'removed', '{}', now())"), {"id": uuid.UUID(lead["id"])})
    r = await harness.client.delete(f"/api/leads/{lead['id']}")
    assert (r.status_code, r.json()["reason"], r.json()["campaignIds"]) == (409, "lead_in_campaign", ["camp-a"])
    assert (await harness.client.get(f"/api/leads/{lead['id']}")).status_code == 200
