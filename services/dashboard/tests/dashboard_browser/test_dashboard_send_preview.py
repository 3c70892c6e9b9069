"""The send preview on the Lead detail screen, in a real browser against the running system: choosing a campaign
in "Select campaign" shows what PlusVibe would send (every step and variation, in sandboxed frames) and
highlights each placeholder that would render empty; the push refuses the same lead for the same reason."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _email_generated(system: System, lead_id: str) -> dict[str, Any]:
    """Start audit, then what the audits and writeback services do: AuditCompleted and WritebackCompleted."""
    r = system.http.post(f"/api/leads/{lead_id}/audits")
    assert r.status_code in (200, 202), r.text
    system.complete_audit(lead_id)
    deadline = time.monotonic() + 15
    while True:
        lead = system.lead(lead_id)
        if lead["status"] == "email_generated" and (lead.get("plusvibeLeadData") or {}).get("lastOutboundWriteback"):
            return lead
        assert time.monotonic() < deadline, "lead never reached email_generated with its writeback"
        time.sleep(0.1)


def _no_script_errors(page: Page) -> None:
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []


def _frames(page: Page) -> Any:
    return page.locator("#send-preview iframe.preview-frame")


def test_a_ready_lead_previews_every_step_of_the_demo_campaign_with_no_empty_placeholder(
        page: Page, system: System) -> None:
    lead = system.create_lead(companyName="Crumb Bakery")
    variables = _email_generated(system, lead["id"])["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    campaign_id = system.sim.campaigns["active"]

    page.goto(f"/leads/{lead['id']}")
    page.get_by_label("Select campaign").select_option(campaign_id)
    preview = page.locator("#send-preview")
    expect(preview.get_by_role("heading", name="Send preview")).to_be_visible()
    expect(page.locator("#send-preview-summary")).to_contain_text("Ready")
    expect(page.locator("#send-preview-summary")).to_contain_text("Website audit outreach")

    # The demo campaign has three steps of one variation each; every one is shown, none has a problem.
    headings = preview.locator(".preview-variation h4")
    expect(headings).to_have_text(["Step 1 · variation A", "Step 2 · variation A", "Step 3 · variation A"])
    expect(preview.locator(".preview-problems li")).to_have_count(0)
    expect(preview.get_by_text("No empty placeholders.")).to_have_count(3)
    # The subject is the copy the writeback stored, exactly as PlusVibe sends it.
    expect(preview.locator(".preview-subject").first).to_have_text(f"Subject: {variables['email_subject_1']}")

    frames = _frames(page)
    expect(frames).to_have_count(3)
    for i in range(3):
        expect(frames.nth(i)).to_have_attribute("sandbox", "")
        expect(frames.nth(i)).to_have_attribute("referrerpolicy", "no-referrer")
        body = page.frame_locator("#send-preview iframe.preview-frame").nth(i).locator("body")
        expect(body).to_contain_text("Ada,")  # {{fallback|{{first_name}}|there}} filled from the lead
        text = body.inner_text()
        assert "{{" not in text and "}}" not in text, text
        assert body.locator("mark.pv-problem").count() == 0
    first = page.frame_locator("#send-preview iframe.preview-frame").first.locator("body")
    expect(first).to_contain_text(variables["email_cta_1"].split("\n")[0][:30])

    # A ready preview and a ready push agree: the push enrols the lead and the preview goes away.
    page.get_by_role("button", name="Push to PlusVibe").click()
    expect(page.locator("#lead-banner")).to_contain_text("Pushed to PlusVibe campaign Website audit outreach")
    expect(preview).to_be_hidden()
    _no_script_errors(page)


def test_a_placeholder_the_lead_cannot_fill_is_highlighted_and_the_push_still_refuses(
        page: Page, system: System, screenshots: Path) -> None:
    sim = system.sim
    campaign_id = sim.state.add_campaign(sim.workspace_id, "Opening line test", [
        [("Quick question, {{first_name}}", "<p>{{opening_line}}</p><p>{{email_body_1}}</p><p>{{sender_first_name}}</p>")],
    ], status="ACTIVE")
    lead = system.create_lead(companyName="Nameless Bakery",
                              contact={"lastName": "Baker", "email": f"baker+{time.time_ns()}@nameless.test"})
    _email_generated(system, lead["id"])

    page.goto(f"/leads/{lead['id']}")
    select = page.get_by_label("Select campaign")
    # The demo campaign guards first_name with a fallback: ready for this lead.
    select.select_option(sim.campaigns["active"])
    expect(page.locator("#send-preview-summary")).to_contain_text("Ready")
    # Choosing another campaign fetches its preview: first_name and opening_line render empty there.
    select.select_option(campaign_id)
    summary = page.locator("#send-preview-summary")
    expect(summary).to_contain_text("Not ready")
    preview = page.locator("#send-preview")
    expect(preview.locator(".preview-variation h4")).to_have_text(["Step 1 · variation A"])
    problems = preview.locator(".preview-problems li")
    expect(problems.filter(has_text="{{opening_line}} renders empty — ")).to_have_count(1)
    expect(problems.filter(has_text="{{first_name}} renders empty — ")).to_have_count(1)
    expect(preview.locator(".preview-subject.bad")).to_have_text("Subject: Quick question,")

    frame = page.frame_locator("#send-preview iframe.preview-frame").first
    marks = frame.locator("mark.pv-problem")
    expect(marks).to_have_count(2)
    expect(frame.locator(".pv-body mark.pv-problem")).to_have_text(["{{opening_line}}"])
    expect(frame.locator(".pv-subject mark.pv-problem")).to_have_text(["{{first_name}}"])
    assert "first_name" in (frame.locator(".pv-subject mark.pv-problem").get_attribute("data-token") or "")
    # Highlighted by the frame's own stylesheet (the inherited CSP refuses inline styles).
    background = frame.locator("mark.pv-problem").first.evaluate("m => getComputedStyle(m).backgroundColor")
    assert background == "rgb(253, 224, 71)", background

    # The summary names the first problem with its remedy; the push refuses the lead for that same reason.
    refusal = system.http.get(f"/api/leads/{lead['id']}/plusvibe/preview",
                              params={"campaignId": campaign_id}).json()["refusal"]
    expect(summary).to_contain_text(refusal["message"])
    expect(summary).to_contain_text(f"({refusal['remedy']})")
    page.get_by_role("button", name="Push to PlusVibe").click()
    note = page.locator("#push-refusal")
    expect(note).to_contain_text(f"Push refused (409 {refusal['reason']})")
    expect(page.locator("#lead-banner")).to_contain_text(refusal["reason"])
    expect(page.locator("#lead-banner")).to_contain_text(refusal["remedy"])
    assert not [x for x in sim.state.leads.values() if x["email"] == lead["contact"]["email"]]
    assert system.lead(lead["id"])["campaignId"] is None
    expect(summary).to_contain_text("Not ready")  # the refused push leaves the preview in place
    full_page_screenshot(page, screenshots / "lead-detail-preview.png")
    _no_script_errors(page)


def test_an_unreadable_campaign_template_shows_the_409_in_the_preview_panel(page: Page, system: System) -> None:
    sim = system.sim
    campaign_id = sim.state.add_campaign(sim.workspace_id, "Broken template", [
        [("Hello {{first_name}}", "<p>{{email_body_1</p>")],
    ], status="ACTIVE")
    lead = system.create_lead(companyName="Broken Bakery")
    page.goto(f"/leads/{lead['id']}")
    page.get_by_label("Select campaign").select_option(campaign_id)
    error = page.locator("#send-preview-error")
    expect(error).to_contain_text("Send preview unavailable")
    expect(error).to_contain_text("campaign_template_invalid")
    expect(page.locator("#send-preview")).to_contain_text("step 1 · variation A · body")
    expect(page.locator("#send-preview")).to_contain_text("(edit_campaign)")
    expect(_frames(page)).to_have_count(0)
    # Clearing the choice hides the panel; the page keeps working.
    page.get_by_label("Select campaign").select_option("")
    expect(page.locator("#send-preview")).to_be_hidden()
    expect(page.get_by_role("button", name="Push to PlusVibe")).to_be_disabled()
    _no_script_errors(page)
