"""PlusVibe campaign states end to end, every service its own process and the launcher's webhook registered: the
simulator's CAMPAIGN_AUTO_PAUSED system alert and LEAD_MARKED_AS_CLOSED reach unibox as webhooks, the lead converts,
the webhook is on the lead's timeline, the alert is listed and shown on its campaign, a push to the auto-paused
campaign is refused, and Dismiss works."""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_testkit import E2E
from test_e2e_seed_flow import create, pushed, status_becomes, until

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

ONE_STEP = [{"variations": [{"subject": "{{email_subject_1}}",
                             "body": "<p>Hi {{first_name}},</p><p>{{email_body_1}}</p><p>{{email_cta_1}}</p>"}]}]


async def _campaign(e2e: E2E, campaign_id: str) -> dict[str, Any]:
    listed = (await e2e.api.get("/api/plusvibe/campaigns")).json()
    return dict(next(c for c in listed if c["id"] == campaign_id))


async def test_an_auto_paused_campaign_and_a_closed_lead_arrive_as_webhooks(e2e: E2E) -> None:
    name = f"Spring e2e {time.time_ns() % 100000}"
    made = await e2e.sim.post("/_sim/campaigns", json={"name": name, "status": "ACTIVE", "sequences": ONE_STEP})
    campaign = made.json()["id"]
    lead_id = await pushed(e2e, campaign, "cedar-law.test", "june@cedar-law.test", company="Cedar Law (states)")

    # The operator marks the lead closed in PlusVibe: the webhook converts it.
    assert (await e2e.sim.post("/_sim/inject/label", json={"email": "june@cedar-law.test", "label": "CLOSED",
                                                          "campaign_id": campaign})).is_success
    await e2e.sim.post("/_sim/webhooks/flush")
    await status_becomes(e2e, lead_id, "converted")
    told = (await e2e.api.get(f"/api/leads/{lead_id}/timeline")).json()["items"]
    closed = next(i for i in told if i["title"] == "Labelled CLOSED in PlusVibe")
    assert closed["raw"]["webhook_event"] == "LEAD_MARKED_AS_CLOSED"  # the webhook's payload is kept

    # PlusVibe auto-pauses the campaign and says so with a SYSTEM_ALERT.
    alerted = await e2e.sim.post("/_sim/inject/alert", json={"alert": "CAMPAIGN_AUTO_PAUSED", "campaign_id": campaign,
                                                             "message": "Too many bounces"})
    assert alerted.json()["queued"] >= 1, "the registered hook does not take SYSTEM_ALERT"
    await e2e.sim.post("/_sim/webhooks/flush")

    async def listed() -> bool:
        alerts = (await e2e.api.get("/api/plusvibe/alerts")).json()
        return any(a["campaignId"] == campaign and a["alert"] == "CAMPAIGN_AUTO_PAUSED" for a in alerts)

    await until(listed, "the auto-pause alert listed")
    shown = await _campaign(e2e, campaign)
    assert (shown["canTakeLeads"], shown["reason"]) == (False, "campaign_paused")
    assert (shown["alert"]["alert"], shown["alert"]["message"]) == ("CAMPAIGN_AUTO_PAUSED", "Too many bounces")
    other = await create(e2e, "cedar-law.test", "jo@cedar-law.test", company="Cedar Law (states)")
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [other["id"]]})
    assert (r.status_code, r.json()["reason"]) == (409, "campaign_paused")

    alert_id = shown["alert"]["id"]
    assert (await e2e.api.post(f"/api/plusvibe/alerts/{alert_id}/dismiss")).status_code == 200
    assert alert_id not in {a["id"] for a in (await e2e.api.get("/api/plusvibe/alerts")).json()}
