"""First sync from PlusVibe (docs/FIRST-SYNC.md) on real PostgreSQL and Kafka with the simulator: missing leads
created, existing ones linked by email, disagreements reported and never overwritten, a second run changing nothing,
a failed page or a dead process resumed from the right page to the same end as an uninterrupted run, a page applied
whole or not at all, and each workspace seeing only its own sync."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from leads_testkit import Harness, TwoWorkspaces
from sqlalchemy import text

from contracts.topics import LEAD_UPSERTED
from leads.handlers import first_sync
from plusvibe.testing import Sim
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NEW = 230  # PlusVibe leads the platform does not know: three pages of 100 with the others


def _add(sim: Sim, campaign: str, *leads: dict[str, Any]) -> None:
    """Leads of PlusVibe's workspace, in this order (as `/lead/add` stores them)."""
    for start in range(0, len(leads), 100):
        sim.state.api_lead_add({"workspace_id": sim.workspace_id, "campaign_id": sim.campaigns[campaign],
                                "leads": list(leads[start:start + 100])})


def _new_leads(sim: Sim, count: int = NEW, tag: str = "n") -> None:
    _add(sim, "active", *({"email": f"{tag}{i:04d}@new-{i % 7}.test", "first_name": f"First{i}",
                           "last_name": f"Last{i}", "company_name": f"Company {i}",
                           "company_website": f"https://www.site{i}.test/home"} for i in range(count)))


async def _set(harness: Harness, lead_id: str, **values: Any) -> None:
    """A lead's columns as another path left them (a campaign linked by a push, say)."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text(f"UPDATE leads SET {assignments} WHERE id = :id"), {**values, "id": uuid.UUID(lead_id)})


async def _finished(client: httpx.AsyncClient) -> dict[str, Any]:
    async def ended() -> bool:
        return bool((await client.get("/api/plusvibe/sync")).json()["status"] != "running")

    await wait_until(ended, timeout_s=90, interval_s=0.1, what="the sync to end")
    return dict((await client.get("/api/plusvibe/sync")).json())


async def _sync(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    return await _finished(client)


async def _leads(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """email → what the sync may touch of the lead (every live lead of the workspace)."""
    out: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        body = (await client.get("/api/leads", params={"pageSize": "200", "page": str(page)})).json()
        for lead in body["items"]:
            contact = lead["contact"]
            out[contact["email"]] = {"first": contact["firstName"], "last": contact["lastName"],
                                     "campaign": lead["campaignId"], "company": lead["companyName"],
                                     "domain": lead["domain"], "status": lead["status"]}
        if page * 200 >= body["total"]:
            return out
        page += 1


COUNTS = ("seen", "pagesDone", "created", "linked", "unchanged", "conflictCount")


def _counts(sync: dict[str, Any]) -> dict[str, Any]:
    return {k: sync[k] for k in COUNTS}


async def test_a_first_sync_creates_links_reports_conflicts_and_a_second_run_changes_nothing(
        harness: Harness) -> None:
    sim, client = harness.sim, harness.client
    assert (await client.get("/api/plusvibe/sync")).json()["reason"] == "sync_not_found"
    linkable = await harness.create_lead(contact={"firstName": "Ada", "lastName": "Baker", "email": "ada@shop.test"})
    renamed = await harness.create_lead(contact={"firstName": "Robert", "lastName": "Stone", "email": "bob@shop.test"})
    elsewhere = await harness.create_lead(contact={"firstName": "Cy", "email": "cy@shop.test"})
    await _set(harness, elsewhere["id"], campaign_id=sim.campaigns["operator"])
    settled = await harness.create_lead(contact={"firstName": "Dee", "email": "dee@shop.test"})
    await _set(harness, settled["id"], campaign_id=sim.campaigns["active"])
    gone = await harness.create_lead(contact={"firstName": "Old", "email": "gone@shop.test"})
    assert (await client.delete(f"/api/leads/{gone['id']}")).status_code == 200

    _add(sim, "active", {"email": "ADA@Shop.test", "first_name": "ada", "last_name": "Baker"},
         {"email": "bob@shop.test", "first_name": "Bob", "last_name": "Stone"},
         {"email": "cy@shop.test", "first_name": "Cy"}, {"email": "dee@shop.test", "first_name": "Dee"},
         {"email": "gone@shop.test", "first_name": "Back"}, {"email": "multi@two.test", "first_name": "Mo"})
    _new_leads(sim)
    _add(sim, "paused", {"email": "multi@two.test", "first_name": "Mo"})  # the same lead in a second campaign

    r = await client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    started = r.json()
    assert (started["status"], started["resumed"], started["nextPage"], started["createdBy"]) == (
        "running", False, 1, "operator:tester")
    first = await _finished(client)
    assert first["id"] == started["id"] and first["error"] is None and first["finishedAt"]
    rows = 6 + NEW + 1
    assert _counts(first) == {"seen": rows, "pagesDone": 3, "created": NEW + 2, "linked": 2, "unchanged": 1,
                              "conflictCount": 3}
    assert sorted((c["email"], c["field"], c["ours"], c["plusvibe"], c["leadId"]) for c in first["conflicts"]) == [
        ("bob@shop.test", "first_name", "Robert", "Bob", renamed["id"]),
        ("cy@shop.test", "campaign", sim.campaigns["operator"], sim.campaigns["active"], elsewhere["id"]),
        ("multi@two.test", "campaign", sim.campaigns["active"], sim.campaigns["paused"],
         next(c["leadId"] for c in first["conflicts"] if c["email"] == "multi@two.test"))]

    leads = await _leads(client)
    assert len(leads) == 4 + NEW + 2  # ours (the deleted one gone) + the new ones + gone@ and multi@ again
    active = sim.campaigns["active"]
    assert leads["ada@shop.test"] == {"first": "Ada", "last": "Baker", "campaign": active, "company": "Acme Bakery",
                                      "domain": "acme-bakery.test", "status": "new"}
    assert (leads["bob@shop.test"]["first"], leads["bob@shop.test"]["campaign"]) == ("Robert", active)  # linked
    assert leads["cy@shop.test"]["campaign"] == sim.campaigns["operator"]  # never overwritten
    assert leads["gone@shop.test"]["first"] == "Back" and leads["multi@two.test"]["campaign"] == active
    assert leads["n0012@new-5.test"] == {"first": "First12", "last": "Last12", "campaign": active,
                                         "company": "Company 12", "domain": "www.site12.test", "status": "new"}
    history = (await client.get(f"/api/leads/{linkable['id']}/history")).json()
    assert history[-1]["actor"] == "plusvibe-sync" and active in history[-1]["reason"]
    timeline = (await client.get(f"/api/leads/{linkable['id']}/timeline")).json()["items"]
    link = next(e for e in timeline if e["actor"] == "plusvibe-sync")
    assert link["title"] == f"Synced from PlusVibe: campaign {active}"  # not "Status new → new"
    created_id = first["conflicts"][[c["email"] for c in first["conflicts"]].index("multi@two.test")]["leadId"]
    history = (await client.get(f"/api/leads/{created_id}/history")).json()
    assert [(h["toStatus"], h["actor"], h["reason"]) for h in history] == [("new", "plusvibe-sync",
                                                                          "synced from PlusVibe")]

    async def announced() -> bool:
        records = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_UPSERTED), expected=100_000,
                                   timeout_s=2)
        ids = {json.loads(r.value)["lead_id"] for r in records
               if json.loads(r.value)["data"]["lead"]["campaign_id"] == active}
        return {linkable["id"], renamed["id"], created_id} <= ids

    await wait_until(announced, timeout_s=30, interval_s=0.3, what="LeadUpserted of the linked and created leads")

    second = await _sync(client)
    assert second["id"] != first["id"]
    assert _counts(second) == {"seen": rows, "pagesDone": 3, "created": 0, "linked": 0, "unchanged": rows - 2,
                               "conflictCount": 3}
    assert await _leads(client) == leads


async def test_a_failed_page_is_resumed_from_that_page_to_the_end_of_an_uninterrupted_run(
        two_workspaces: TwoWorkspaces) -> None:
    default, acme, sim = two_workspaces.default, two_workspaces.acme, two_workspaces.default.sim
    sim.state.api_keys.add("pv-acme-sync-key")
    r = await acme.client.put("/api/integrations/plusvibe",
                              json={"apiKey": "pv-acme-sync-key", "workspaceId": sim.workspace_id})
    assert r.status_code == 200, r.text
    for harness in (default, acme):  # the same operator data on both sides
        await harness.create_lead(contact={"firstName": "Ada", "email": "n0150@new-3.test"})
    _new_leads(sim, 420)
    async with httpx.AsyncClient(base_url=sim.control, trust_env=False) as control:
        fault = {"path": "/api/v1/lead/workspace-leads", "params": {"page": "3"}, "status": 500, "times": 3}
        assert (await control.post("/faults", json=fault)).status_code == 200
    r = await default.client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    failed = await _finished(default.client)
    assert (failed["status"], failed["nextPage"], failed["pagesDone"], failed["seen"]) == ("failed", 3, 2, 200)
    assert "PlusVibe" in failed["error"] and failed["finishedAt"]
    assert len(await _leads(default.client)) == 200  # pages 1 and 2 (the lead of ours among them)

    r = await default.client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    assert (r.json()["id"], r.json()["resumed"], r.json()["nextPage"], r.json()["error"]) == (
        failed["id"], True, 3, None)
    resumed = await _finished(default.client)
    uninterrupted = await _sync(acme.client)
    assert resumed["status"] == uninterrupted["status"] == "done"
    assert _counts(resumed) == _counts(uninterrupted) == {"seen": 420, "pagesDone": 5, "created": 419, "linked": 1,
                                                         "unchanged": 0, "conflictCount": 2}
    # Our lead's first name, and its empty last name, are kept: PlusVibe's are reported.
    assert [(c["field"], c["ours"], c["plusvibe"]) for c in resumed["conflicts"]] == [
        (c["field"], c["ours"], c["plusvibe"]) for c in uninterrupted["conflicts"]] == [
        ("first_name", "Ada", "First150"), ("last_name", None, "Last150")]
    assert await _leads(default.client) == await _leads(acme.client)
    requests = [x.fault for x in sim.state.request_log("/api/v1/lead/workspace-leads")]
    assert requests.count("status") == 3 and len(requests) == 3 + 5 + 5  # page 3 failed, then 3..5 and acme's 1..5


async def test_a_running_sync_is_refused_and_one_whose_process_died_is_resumed_from_its_next_page(
        harness: Harness) -> None:
    _new_leads(harness.sim, 250)
    svc = harness.service
    # A process claims a sync and commits page 1, then dies (no heartbeat, no failure recorded).
    claimed = await first_sync.start_sync(svc.runtime.uow(), workspace="default", actor="operator:gone",
                                          now=datetime.now(UTC))
    rows = await svc.port("default").workspace_leads_page(1, 100)
    assert await first_sync.apply_page(claimed.job, 1, rows, uows=svc.runtime.uow) is None

    r = await harness.client.post("/api/plusvibe/sync")
    assert (r.status_code, r.json()["reason"], r.json()["syncId"]) == (409, "sync_running", str(claimed.job.sync_id))
    shown = (await harness.client.get("/api/plusvibe/sync")).json()
    assert (shown["status"], shown["stalled"], shown["pagesDone"], shown["nextPage"]) == ("running", False, 1, 2)

    async with svc.runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE plusvibe_syncs SET heartbeat_at = :t"),
                           {"t": datetime.now(UTC) - timedelta(seconds=31)})
    assert (await harness.client.get("/api/plusvibe/sync")).json()["stalled"] is True
    r = await harness.client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    assert (r.json()["id"], r.json()["resumed"], r.json()["nextPage"], r.json()["stalled"]) == (
        str(claimed.job.sync_id), True, 2, False)
    done = await _finished(harness.client)
    assert (done["status"], done["seen"], done["pagesDone"], done["created"]) == ("done", 250, 3, 250)
    # The dead runner's page, were it to arrive now, is refused: the sync is no longer its own.
    assert await first_sync.apply_page(claimed.job, 2, rows, uows=svc.runtime.uow) == "taken"
    assert len(await _leads(harness.client)) == 250


async def test_a_page_that_fails_half_way_leaves_nothing_of_itself_and_is_redone(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    _new_leads(harness.sim, 150)
    calls = {"n": 0}
    announce = first_sync.announce

    async def failing_once(uow: Any, lead: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 150:  # the 50th lead of page 2: its 49 leads before it are in the transaction
            raise RuntimeError("the database went away")
        await announce(uow, lead)

    monkeypatch.setattr(first_sync, "announce", failing_once)
    r = await harness.client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    failed = await _finished(harness.client)
    assert (failed["status"], failed["nextPage"], failed["created"]) == ("failed", 2, 100)
    assert failed["error"] == "RuntimeError: the database went away"
    assert len(await _leads(harness.client)) == 100  # page 1 only: nothing of page 2

    r = await harness.client.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    done = await _finished(harness.client)
    assert _counts(done) == {"seen": 150, "pagesDone": 2, "created": 150, "linked": 0, "unchanged": 0,
                             "conflictCount": 0}
    assert len(await _leads(harness.client)) == 150


async def test_each_workspace_sees_only_its_own_sync_and_an_unconnected_one_is_refused(
        two_workspaces: TwoWorkspaces) -> None:
    default, acme = two_workspaces.default, two_workspaces.acme
    _new_leads(default.sim, 5)
    done = await _sync(default.client)
    assert (done["status"], done["created"]) == ("done", 5)
    r = await acme.client.get("/api/plusvibe/sync")
    assert (r.status_code, r.json()["reason"]) == (404, "sync_not_found")
    r = await acme.client.post("/api/plusvibe/sync")
    assert (r.status_code, r.json()["reason"]) == (503, "plusvibe_not_configured")
    assert (await acme.client.get("/api/leads")).json()["total"] == 0
    assert (await acme.client.get("/api/plusvibe/sync")).status_code == 404
    assert (await default.client.get("/api/plusvibe/sync")).json()["id"] == done["id"]
