"""A lead's timeline through the API: created, audit requested (by whom), audit completed with its grade, copy
written back, previews generated and an operator's status change, newest first, paged; the entries come from the
real consumers applying the audit's and the writeback's events from the broker."""

from __future__ import annotations

import pytest
from leads_testkit import Harness, audit_completed, parse_time, writeback_completed

from contracts.topics import AUDIT_COMPLETED, WRITEBACK_COMPLETED
from servicekit.testing import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_timeline_tells_the_leads_story_newest_first_and_pages(harness: Harness) -> None:
    lead = await harness.create_lead()
    lead_id = lead["id"]
    run_id = (await harness.client.post(f"/api/leads/{lead_id}/audits")).json()["auditRunId"]
    requested_at = parse_time((await harness.lead(lead_id))["audit"]["requestedAt"])
    await harness.publish(AUDIT_COMPLETED, audit_completed(lead_id, run_id, requested_at, grade="B"))
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead_id, run_id, requested_at, steps=2))

    async def generated() -> bool:
        return (await harness.lead(lead_id))["status"] == "email_generated"

    await wait_until(generated, timeout_s=30, what="the lead to reach email_generated through the consumers")
    assert (await harness.client.post(f"/api/leads/{lead_id}/emails", json={"steps": 1})).status_code == 201
    assert (await harness.client.patch(f"/api/leads/{lead_id}", json={"status": "retargeted"})).status_code == 200

    r = await harness.client.get(f"/api/leads/{lead_id}/timeline")
    assert r.status_code == 200, r.text
    page = r.json()
    items = page["items"]
    assert page["total"] == len(items) and page["page"] == 1
    kinds = [i["kind"] for i in items]
    # Newest first: the operator's change, then the previews, back to the lead's creation.
    assert kinds[0] == "status" and items[0]["title"].endswith("→ retargeted") and items[0]["actor"]
    assert "preview" in kinds and "writeback" in kinds and "audit_completed" in kinds and "audit_requested" in kinds
    assert kinds.index("preview") < kinds.index("writeback") < kinds.index("audit_completed") \
        < kinds.index("audit_requested")
    assert items[-1]["kind"] == "status" and items[-1]["title"] == "Status created as new"
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    completed = next(i for i in items if i["kind"] == "audit_completed")
    assert completed["title"] == "Audit completed: grade B" and completed["detail"] == "score 72"
    written = next(i for i in items if i["kind"] == "writeback")
    assert written["title"] == "Copy stored (not delivered to PlusVibe)" and written["detail"] == "2 steps"

    first = (await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 2})).json()
    second = (await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 2, "page": 2})).json()
    assert first["items"] + second["items"] == items[:4] and first["total"] == page["total"]
    bad = await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 0})
    assert bad.status_code == 422
