"""PlusVibe campaign states in a real browser against the running system: the workspace's open PlusVibe alerts on
the leads list (Dismiss removes one), campaign pickers that offer only campaigns a push can enrol into (the others
shown disabled with why), and the banner on a lead whose campaign PlusVibe auto-paused."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contracts.envelope import Envelope
from contracts.topics import EMAIL_ACTIVITY_RECEIVED
from contracts.unibox import EmailActivityReceived
from dashboard_browser.dashboard_testkit import System, full_page_screenshot
from servicekit.messaging.events import new_envelope

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _alert(alert: str, message: str, campaign_id: str | None = None, campaign_name: str | None = None) -> Envelope:
    """What unibox publishes for a PlusVibe SYSTEM_ALERT webhook."""
    raw = {"webhook_event": "SYSTEM_ALERT", "alert": alert, "message": message}
    if campaign_id:
        raw.update(campaign_id=campaign_id, campaign_name=campaign_name or "")
    return new_envelope(EmailActivityReceived(
        lead_id=None, activity="system_alert", webhook_event="SYSTEM_ALERT", alert=alert, campaign_id=campaign_id,
        is_camp_paused=bool(campaign_id), observed_at=datetime.now(UTC), raw_payload=raw))


def _wait_for_alerts(system: System, count: int) -> None:
    deadline = time.monotonic() + 15
    while len(system.http.get("/api/plusvibe/alerts").json()) < count:
        assert time.monotonic() < deadline, "the alerts were not kept"
        time.sleep(0.1)


def test_alerts_pickers_and_the_paused_campaign_banner(page: Page, system: System, screenshots: Path) -> None:
    sim = system.sim
    name = f"Autumn offer {time.time_ns() % 100000}"
    campaign_id = sim.state.add_campaign(sim.workspace_id, name, [[("Hi {{first_name}}", "<p>{{email_body_1}}</p>")]],
                                         status="ACTIVE")
    linked = system.create_lead(companyName="Paused Bakery")
    system.force_campaign(linked["id"], campaign_id)
    unlinked = system.create_lead(companyName="Free Bakery")
    sim.state.set_campaign_status(campaign_id, "PAUSED")  # what CAMPAIGN_AUTO_PAUSED does in PlusVibe
    before = len(system.http.get("/api/plusvibe/alerts").json())
    system.publish(EMAIL_ACTIVITY_RECEIVED, _alert("CAMPAIGN_AUTO_PAUSED", "Bounce rate above 8 %", campaign_id, name),
                   _alert("EMAIL_ACCOUNT_DISCONNECTED", "sam@sender-two.test stopped sending"))
    _wait_for_alerts(system, before + 2)

    page.goto("/leads")
    panel = page.locator("#plusvibe-alerts")
    expect(panel).to_be_visible()
    paused_item = panel.locator("li", has_text=f"PlusVibe auto-paused the campaign ({name})")
    expect(paused_item).to_contain_text("Bounce rate above 8 %")
    mailbox_item = panel.locator("li", has_text="A sending mailbox was disconnected")
    expect(mailbox_item).to_contain_text("sam@sender-two.test stopped sending")
    # The bulk picker: the paused and the completed campaign are shown, disabled, with why.
    bulk = page.locator("#bulk-campaign")
    paused_option = bulk.locator(f"option[value='{campaign_id}']")
    expect(paused_option).to_be_disabled()
    expect(paused_option).to_contain_text("cannot take leads: paused ⚠ PlusVibe auto-paused the campaign")
    expect(bulk.locator(f"option[value='{sim.campaigns['completed']}']")).to_contain_text(
        "cannot take leads: completed")
    expect(bulk.locator(f"option[value='{sim.campaigns['completed']}']")).to_be_disabled()
    expect(bulk.locator(f"option[value='{sim.campaigns['active']}']")).to_be_enabled()
    full_page_screenshot(page, screenshots / "leads-plusvibe-alerts.png")
    mailbox_item.get_by_role("button", name="Dismiss").click()
    expect(panel.locator("li", has_text="A sending mailbox was disconnected")).to_have_count(0)
    expect(paused_item).to_be_visible()

    page.goto(f"/leads/{linked['id']}")
    banner = page.locator("#campaign-alert")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text(f"PlusVibe auto-paused the campaign: {name}")
    expect(banner).to_contain_text("Bounce rate above 8 %")
    expect(banner).to_contain_text(
        f"PlusVibe sends nothing to this lead while {name} is paused; resume it in PlusVibe.")
    full_page_screenshot(page, screenshots / "lead-detail-campaign-paused.png")

    page.goto(f"/leads/{unlinked['id']}")
    picker = page.locator("#push-campaign")
    expect(picker.locator(f"option[value='{campaign_id}']")).to_be_disabled()
    expect(picker.locator(f"option[value='{sim.campaigns['active']}']")).to_be_enabled()
    expect(page.locator("#campaign-alert")).to_have_count(0)

    sim.state.set_campaign_status(campaign_id, "ACTIVE")  # resumed in PlusVibe: the banner goes
    page.goto(f"/leads/{linked['id']}")
    # The campaign list has loaded once the panel shows the campaign's copy setting (drawn from that list).
    expect(page.locator("#copy-setting")).to_be_visible()
    expect(page.locator("#campaign-alert")).to_have_count(0)
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []
    for left in system.http.get("/api/plusvibe/alerts").json():  # the system is shared: leave no panel behind
        system.http.post(f"/api/plusvibe/alerts/{left['id']}/dismiss")
