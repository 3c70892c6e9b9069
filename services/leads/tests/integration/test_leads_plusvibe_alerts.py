"""PlusVibe's system alerts through the real broker: unibox's EmailActivityReceived (`system_alert`) is kept once per
event, listed for the workspace, shown on its campaign while PlusVibe still reports it paused, and dismissed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from leads_testkit import Harness

from contracts.envelope import Envelope
from contracts.topics import EMAIL_ACTIVITY_RECEIVED
from contracts.unibox import EmailActivityReceived
from servicekit.messaging.events import new_envelope
from servicekit.testing import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _alert(alert: str, *, campaign_id: str | None = None, workspace: str | None = None) -> Envelope:
    raw: dict[str, Any] = {"webhook_event": "SYSTEM_ALERT", "alert": alert, "message": f"{alert} happened"}
    if campaign_id:
        raw.update(campaign_id=campaign_id, campaign_name="Website audit outreach", is_camp_paused=True)
    return new_envelope(EmailActivityReceived(
        lead_id=None, activity="system_alert", webhook_event="SYSTEM_ALERT", campaign_id=campaign_id, alert=alert,
        is_camp_paused=True if campaign_id else None, observed_at=datetime.now(UTC), raw_payload=raw,
    ), workspace_id=workspace)


async def _open(harness: Harness) -> list[dict[str, Any]]:
    r = await harness.client.get("/api/plusvibe/alerts")
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_an_auto_pause_is_kept_once_shown_on_its_campaign_while_paused_and_dismissed(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    harness.sim.state.set_campaign_status(campaign, "PAUSED")  # what CAMPAIGN_AUTO_PAUSED does in PlusVibe
    paused = _alert("CAMPAIGN_AUTO_PAUSED", campaign_id=campaign)
    mailbox = _alert("EMAIL_ACCOUNT_DISCONNECTED")
    elsewhere = _alert("WEBHOOK_DISABLED", workspace="second-client")
    await harness.publish(EMAIL_ACTIVITY_RECEIVED, paused, paused, mailbox, elsewhere)  # `paused` delivered twice

    async def both_kept() -> bool:
        return len(await _open(harness)) >= 2

    await wait_until(both_kept, what="the alerts kept")
    alerts = await _open(harness)
    assert [a["id"] for a in alerts] == [str(mailbox.event_id), str(paused.event_id)]  # newest first, once each
    kept = alerts[1]
    assert (kept["alert"], kept["campaignId"], kept["campaignName"], kept["campaignPaused"], kept["message"]) == (
        "CAMPAIGN_AUTO_PAUSED", campaign, "Website audit outreach", True, "CAMPAIGN_AUTO_PAUSED happened")
    assert kept["rawPayload"]["webhook_event"] == "SYSTEM_ALERT"

    async def on_campaign() -> dict[str, Any]:
        listed = (await harness.client.get("/api/plusvibe/campaigns")).json()
        return dict(next(c for c in listed if c["id"] == campaign))

    shown = await on_campaign()
    assert (shown["canTakeLeads"], shown["reason"], shown["alert"]["id"]) == (False, "campaign_paused",
                                                                              str(paused.event_id))
    harness.sim.state.set_campaign_status(campaign, "ACTIVE")  # the operator resumed it in PlusVibe
    resumed = await on_campaign()
    assert (resumed["canTakeLeads"], resumed["alert"]) == (True, None)

    dismissed = await harness.client.post(f"/api/plusvibe/alerts/{mailbox.event_id}/dismiss")
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["dismissedAt"] and dismissed.json()["dismissedBy"].startswith("operator:")
    assert [a["id"] for a in await _open(harness)] == [str(paused.event_id)]
    again = await harness.client.post(f"/api/plusvibe/alerts/{mailbox.event_id}/dismiss")
    assert again.json()["dismissedAt"] == dismissed.json()["dismissedAt"]  # a second dismiss changes nothing
    for unknown in (str(elsewhere.event_id), str(uuid.uuid4()), "not-an-id"):  # another workspace's is unknown here
        r = await harness.client.post(f"/api/plusvibe/alerts/{unknown}/dismiss")
        assert (r.status_code, r.json()["reason"]) == (404, "alert_not_found")
