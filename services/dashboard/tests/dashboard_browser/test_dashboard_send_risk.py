"""The send-risk warning on the Lead detail screen, in a real browser against the running system: a PlusVibe
campaign edited after the lead was enrolled, so that its next emails would render empty placeholders, is found
by the leads service's template check and shown as a banner on the lead; reverting the edit clears it."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _email_generated(system: System, lead_id: str) -> None:
    """Start audit, then what the audits and writeback services do: AuditCompleted and WritebackCompleted."""
    r = system.http.post(f"/api/leads/{lead_id}/audits")
    assert r.status_code in (200, 202), r.text
    system.complete_audit(lead_id)
    deadline = time.monotonic() + 15
    while True:
        lead = system.lead(lead_id)
        if lead["status"] == "email_generated" and (lead.get("plusvibeLeadData") or {}).get("lastOutboundWriteback"):
            return
        assert time.monotonic() < deadline, "lead never reached email_generated with its writeback"
        time.sleep(0.1)


def _no_script_errors(page: Page) -> None:
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []


def _sequences(system: System, campaign_id: str) -> list[dict[str, Any]]:
    state = system.sim.state
    with state.lock:
        return copy.deepcopy(state.campaigns[campaign_id]["sequences"])


def _set_sequences(system: System, campaign_id: str, sequences: list[dict[str, Any]]) -> None:
    """What the operator does in PlusVibe's campaign editor."""
    state = system.sim.state
    with state.lock:
        state.campaigns[campaign_id]["sequences"] = copy.deepcopy(sequences)


def test_a_campaign_edited_after_enrolment_shows_the_send_risk_until_the_edit_is_reverted(
        page: Page, system: System, screenshots: Path) -> None:
    sim = system.sim
    name = f"Spring offer {time.time_ns() % 100000}"
    campaign_id = sim.state.add_campaign(sim.workspace_id, name, [
        [("Hi {{first_name}}", "<p>{{email_body_1}}</p>")],
    ], status="ACTIVE")
    lead = system.create_lead(companyName="Risky Bakery")
    _email_generated(system, lead["id"])
    r = system.http.post("/api/plusvibe/leads/push", json={"campaignId": campaign_id, "leadIds": [lead["id"]]})
    assert r.status_code == 200, r.text
    assert system.lead(lead["id"])["campaignId"] == campaign_id

    first = system.check_campaign_templates()  # records the campaign as enrolled: nothing to flag yet
    assert lead["id"] not in {str(i) for i in first.flagged}
    page.goto(f"/leads/{lead['id']}")
    expect(page.locator("#status-badge")).to_be_visible()
    expect(page.locator("#send-risk")).to_be_hidden()

    original = _sequences(system, campaign_id)
    edited = copy.deepcopy(original)
    # The operator adds an opening line nobody fills, and a step whose body key the push never sent.
    edited[0]["variations"][0]["body"] = "<p>{{opening_line}}</p><p>{{email_body_1}}</p>"
    edited.append({"step": 2, "wait_time": 2, "variations": [
        {"variation": "A", "subject": "", "body": "<p>{{email_body_4}}</p>"}]})
    _set_sequences(system, campaign_id, edited)
    report = system.check_campaign_templates()
    assert campaign_id in report.changed
    assert lead["id"] in {str(i) for i in report.flagged}
    risk = system.lead(lead["id"])["sendRisk"]
    assert risk is not None and risk["campaignId"] == campaign_id
    assert {p["token"] for p in risk["problems"]} == {"{{opening_line}}", "{{email_body_4}}"}
    assert risk["writebackRequestedFor"]

    page.reload()
    banner = page.locator("#send-risk")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text(f"Campaign {name} was edited in PlusVibe after this lead was enrolled: "
                                   "its next emails would render empty placeholders.")
    items = banner.locator(".send-risk-problems li")
    expect(items).to_have_count(2)
    by_token = {p["token"]: p for p in risk["problems"]}
    opening = by_token["{{opening_line}}"]
    expect(items.filter(has_text="{{opening_line}}")).to_have_text(
        f"{{{{opening_line}}}} · step 1 · variation A · body — {opening['message']}")
    body4 = by_token["{{email_body_4}}"]
    expect(items.filter(has_text="{{email_body_4}}")).to_have_text(
        f"{{{{email_body_4}}}} · step 2 · variation A · body — {body4['message']}")
    assert risk["remedy"] == "edit_campaign"  # the first problem's: step 1's unknown opening line
    expect(banner.locator(".send-risk-remedy")).to_have_text(
        "Remedy: Edit the campaign in PlusVibe: use a variable the system fills, or give it a fallback. (edit_campaign)")
    expect(banner).to_contain_text("A writeback refresh was requested.")
    # The tokens come from PlusVibe's templates: shown as text, never parsed as markup.
    assert banner.locator(".send-risk-problems li *:not(code):not(span)").count() == 0
    full_page_screenshot(page, screenshots / "lead-detail-send-risk.png")

    _set_sequences(system, campaign_id, original)  # the operator reverts the edit
    cleared = system.check_campaign_templates()
    assert lead["id"] in {str(i) for i in cleared.cleared}
    assert system.lead(lead["id"])["sendRisk"] is None
    page.reload()
    expect(page.locator("#status-badge")).to_be_visible()
    expect(page.locator("#send-risk")).to_be_hidden()
    expect(page.get_by_text("was edited in PlusVibe after this lead was enrolled")).to_have_count(0)
    _no_script_errors(page)
