"""Start audit for the selected leads (the Leads table's bulk action): each lead on its own under the single action's
rules, with a result per lead; another workspace's lead is answered as one that does not exist."""

from __future__ import annotations

import uuid

import pytest
from leads_testkit import TwoWorkspaces

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_bulk_start_audit_starts_each_auditable_lead_and_says_why_not_for_the_others(
        two_workspaces: TwoWorkspaces) -> None:
    ours, theirs = two_workspaces.default, two_workspaces.acme
    ready = [await ours.create_lead(domain=f"shop{n}-{uuid.uuid4().hex[:6]}.test") for n in range(2)]
    no_domain = await ours.create_lead(domain=None)
    deleted = await ours.create_lead()
    assert (await ours.client.delete(f"/api/leads/{deleted['id']}")).status_code == 200
    foreign = await theirs.create_lead()
    ids = [ready[0]["id"], no_domain["id"], "not-a-uuid", deleted["id"], foreign["id"], ready[1]["id"],
           ready[0]["id"]]

    r = await ours.client.post("/api/leads/audits", json={"leadIds": ids})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["leadId"] for s in body["started"]] == [ready[0]["id"], ready[1]["id"]]  # each id once
    assert {(x["leadId"], x["reason"]) for x in body["refused"]} == {
        (no_domain["id"], "domain_missing"), ("not-a-uuid", "lead_not_found"), (deleted["id"], "lead_not_found"),
        (foreign["id"], "lead_not_found")}
    for started in body["started"]:
        lead = await ours.lead(started["leadId"])
        assert lead["status"] == "audit_queued"
        assert lead["audit"]["auditRunId"] == started["auditRunId"]
    assert (await ours.lead(no_domain["id"]))["status"] == "new"
    assert (await theirs.lead(foreign["id"]))["status"] == "new"

    too_many = await ours.client.post("/api/leads/audits", json={"leadIds": [str(uuid.uuid4())] * 501})
    assert too_many.status_code == 422
    empty = await ours.client.post("/api/leads/audits", json={"leadIds": []})
    assert empty.status_code == 422
