"""Leads in bulk, end to end with every service its own process, through the single entry point: a CSV file imported
(one invalid row left out), Start audit on the imported leads audits their demo websites through the real audits and
writeback services to email_generated; then the first sync from PlusVibe brings in the leads PlusVibe has and the
platform lacks, links one the platform has, and a second sync changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import pytest
from e2e_testkit import E2E
from test_e2e_seed_flow import campaign_id, lead, status_becomes, until

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def _finished(e2e: E2E, path: str, timeout_s: float = 60.0) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        result = (await e2e.api.get(path)).json()
        return result["status"] != "running"

    await until(done, f"{path} finished", timeout_s)
    return result


async def test_import_a_csv_then_audit_the_imported_leads_to_email_generated(e2e: E2E) -> None:
    tag = uuid.uuid4().hex[:6]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([
        ["Company", "Website", "First Name", "Email"],
        [f"Northwind {tag}", "https://northwind-bakery.test/", "Nora", f"nora-{tag}@northwind-bakery.test"],
        [f"Bluebird {tag}", "bluebird-dental.test", "Bea", f"bea-{tag}@bluebird-dental.test"],
        [f"Broken {tag}", "", "Bo", "not-an-email"],
    ])
    up = await e2e.api.post("/api/leads/imports/uploads", content=out.getvalue().encode(),
                            params={"filename": "leads.csv"}, headers={"Content-Type": "text/csv"})
    assert up.status_code == 201, up.text
    r = await e2e.api.post("/api/leads/imports", json={"uploadId": up.json()["uploadId"],
                                                       "mapping": up.json()["suggestedMapping"],
                                                       "onErrors": "import_valid"})
    assert r.status_code == 202, r.text
    done = await _finished(e2e, f"/api/leads/imports/{r.json()['id']}")
    assert (done["status"], done["created"], done["failed"]) == ("done", 2, 1)

    ids = [item["id"] for item in (await e2e.api.get("/api/leads", params={"q": tag})).json()["items"]]
    assert len(ids) == 2
    started = await e2e.api.post("/api/leads/audits", json={"leadIds": ids})
    assert started.status_code == 200, started.text
    assert {s["leadId"] for s in started.json()["started"]} == set(ids) and started.json()["refused"] == []
    for lead_id in ids:
        shown = await status_becomes(e2e, lead_id, "email_generated", timeout_s=120)
        variables = shown["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
        assert variables["audit_grade"] and all(str(v).strip() for v in variables.values())


async def _plusvibe_add(e2e: E2E, campaign: str, leads: list[dict[str, str]]) -> None:
    """Leads enrolled in PlusVibe by someone else (PlusVibe's own API, as any client)."""
    workspace = (await e2e.api.get("/api/plusvibe/integration")).json()["workspaceId"]
    r = await e2e.sim.post("/api/v1/lead/add", json={"workspace_id": workspace, "campaign_id": campaign,
                                                     "leads": leads},
                           headers={"x-api-key": e2e.config.simulator_api_key})
    assert r.status_code == 200, r.text


async def test_the_first_sync_brings_plusvibe_leads_in_and_a_second_changes_nothing(e2e: E2E) -> None:
    tag = uuid.uuid4().hex[:6]
    campaign = await campaign_id(e2e)
    ours = await e2e.api.post("/api/leads", json={"companyName": f"Cedar {tag}", "domain": "cedar-law.test",
                                                  "contact": {"email": f"cal-{tag}@cedar-law.test"}})
    assert ours.status_code == 201, ours.text
    theirs = [{"email": f"pv{n}-{tag}@acme-plumbing.test", "first_name": f"Pat{n}", "company_name": f"Acme {tag}"}
              for n in range(3)]
    await _plusvibe_add(e2e, campaign, [*theirs, {"email": f"CAL-{tag}@cedar-law.test"}])

    r = await e2e.api.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    first = await _finished(e2e, "/api/plusvibe/sync")
    assert first["status"] == "done" and first["created"] >= 3 and first["linked"] >= 1, first
    for row in theirs:
        found = (await e2e.api.get("/api/leads", params={"q": row["email"]})).json()["items"]
        assert len(found) == 1 and found[0]["campaignId"] == campaign and found[0]["status"] == "new", found
    linked = await lead(e2e, ours.json()["id"])
    assert linked["campaignId"] == campaign

    await asyncio.sleep(0.1)
    r = await e2e.api.post("/api/plusvibe/sync")
    assert r.status_code == 202, r.text
    second = await _finished(e2e, "/api/plusvibe/sync")
    assert (second["status"], second["created"], second["linked"]) == ("done", 0, 0), second
    assert second["seen"] == first["seen"]
