"""Copy settings through the API on the real broker and PostgreSQL: a workspace default and a campaign's own tone
and step count, announced once per change on the compacted topic (keyed per workspace and campaign), shown on the
campaign list, and used by Generate Email; bad input is refused with a reason and saves nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from leads_testkit import Harness
from sqlalchemy import text

from contracts.topics import COPY_SETTINGS_CHANGED
from servicekit.testing import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _announced(harness: Harness) -> list[tuple[str, dict[str, Any]]]:
    records = await read_topic(harness.bootstrap_servers, harness.topic(COPY_SETTINGS_CHANGED), expected=10_000,
                               timeout_s=3)
    return [(r.key.decode(), json.loads(r.value)["data"]) for r in records]


async def _campaign(harness: Harness, campaign_id: str) -> dict[str, Any]:
    listed = (await harness.client.get("/api/plusvibe/campaigns")).json()
    return dict(next(c for c in listed if c["id"] == campaign_id))


async def test_a_campaign_setting_and_the_workspace_default_are_saved_announced_and_used(harness: Harness) -> None:
    active, other = harness.sim.campaigns["active"], harness.sim.campaigns["operator"]
    empty = (await harness.client.get("/api/copy-settings")).json()
    assert (empty["defaultTone"], empty["default"], empty["campaigns"]) == ("consultative", None, [])
    assert (await _campaign(harness, active))["copyToneSource"] == "built-in"

    r = await harness.client.put("/api/copy-settings/default", json={"tone": "friendly"})
    assert r.status_code == 200, r.text
    r = await harness.client.put(f"/api/copy-settings/campaigns/{active}", json={"tone": "direct", "steps": 4})
    assert (r.status_code, r.json()["version"], r.json()["updatedBy"]) == (200, 1, "operator:tester")
    again = await harness.client.put(f"/api/copy-settings/campaigns/{active}", json={"tone": "direct", "steps": 4})
    assert again.json()["version"] == 1  # nothing changed: not announced again
    shown = (await harness.client.get("/api/copy-settings")).json()
    assert (shown["defaultTone"], [(c["campaignId"], c["tone"], c["steps"]) for c in shown["campaigns"]]) == (
        "friendly", [(active, "direct", 4)])
    mine = await _campaign(harness, active)
    assert (mine["copyTone"], mine["copyToneSource"], mine["copySteps"], mine["copyStepsChosen"]) == (
        "direct", "campaign", 4, True)
    theirs = await _campaign(harness, other)
    assert (theirs["copyTone"], theirs["copyToneSource"], theirs["copyStepsChosen"]) == ("friendly", "workspace", False)
    assert theirs["copySteps"] == theirs["steps"]

    announced = await _announced(harness)
    assert [(k, d["tone"], d["steps"], d["version"]) for k, d in announced] == [
        ("default:", "friendly", None, 1), (f"default:{active}", "direct", 4, 1)]
    assert all(d["workspace"] == "default" for _, d in announced)

    # The campaign inherits the default's tone again, keeping its step count.
    r = await harness.client.put(f"/api/copy-settings/campaigns/{active}", json={"tone": None, "steps": 4})
    assert r.json()["version"] == 2
    assert (await _campaign(harness, active))["copyTone"] == "friendly"


async def test_generate_email_writes_in_the_leads_campaign_setting_unless_the_operator_picks(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    await harness.client.put(f"/api/copy-settings/campaigns/{campaign}", json={"tone": "direct", "steps": 2})
    lead = await harness.create_lead()
    unlinked = await harness.client.post(f"/api/leads/{lead['id']}/emails", json={})
    assert [(e["tone"], e["step"]) for e in unlinked.json()] == [("consultative", 1)]  # no campaign: the default
    async with harness.service.runtime.engine.begin() as conn:  # linked as a push would (the guard is not the point)
        await conn.execute(text("UPDATE leads SET campaign_id = :c WHERE id = CAST(:id AS uuid)"),
                           {"c": campaign, "id": lead["id"]})
    linked = await harness.client.post(f"/api/leads/{lead['id']}/emails", json={})
    assert [(e["tone"], e["step"]) for e in linked.json()] == [("direct", 1), ("direct", 2)]
    picked = await harness.client.post(f"/api/leads/{lead['id']}/emails", json={"tone": "friendly", "steps": 1})
    assert [(e["tone"], e["step"]) for e in picked.json()] == [("friendly", 1)]
    # The push and the send preview read the saved setting as well, and answer as usual with one saved (the lead is
    # not audited: the push is refused, with why).
    pushed = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]})
    assert (pushed.status_code, pushed.json()["reason"]) == (409, "leads_not_ready")
    preview = await harness.client.get(f"/api/leads/{lead['id']}/plusvibe/preview", params={"campaignId": campaign})
    assert preview.status_code == 200, preview.text


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/api/copy-settings/default", {"tone": "shouty"}, "invalid_request"),
    ("/api/copy-settings/default", {}, "invalid_request"),
    ("/api/copy-settings/campaigns/c1", {"tone": "direct", "steps": 0}, "invalid_request"),
    ("/api/copy-settings/campaigns/c1", {"steps": 11}, "invalid_request"),
    ("/api/copy-settings/campaigns/c1", {"tone": "direct", "colour": "red"}, "invalid_request"),
    ("/api/copy-settings/campaigns/c%201", {"tone": "direct"}, "campaign_id_invalid"),
])
async def test_bad_settings_are_refused_with_a_reason_and_save_nothing(harness: Harness, path: str,
                                                                       body: dict[str, Any], reason: str) -> None:
    r = await harness.client.put(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == reason and r.json()["message"]
    assert (await harness.client.get("/api/copy-settings")).json()["campaigns"] == []
