"""Copy under the operator's control in a real browser against the running system: the workspace default tone on
Integrations, a campaign's own tone and step count on the Lead detail of one of its leads, and Generate Email's
tone and steps pickers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_the_default_tone_a_campaigns_setting_and_generate_emails_choices(page: Page, system: System,
                                                                          screenshots: Path) -> None:
    sim = system.sim
    name = f"Copy campaign {time.time_ns() % 100000}"
    campaign_id = sim.state.add_campaign(sim.workspace_id, name, [
        [("{{email_subject_1}}", "<p>{{email_body_1}}</p>")], [("", "<p>{{email_body_2}}</p>")],
        [("", "<p>{{email_body_3}}</p>")]], status="ACTIVE")

    page.goto("/integrations")
    page.get_by_label("Default tone").select_option("direct")
    page.get_by_role("button", name="Save default tone").click()
    expect(page.locator("#integrations-banner")).to_contain_text("Copy is now written in direct")
    assert system.http.get("/api/copy-settings").json()["defaultTone"] == "direct"

    lead = system.create_lead(companyName="Copy Bakery")
    system.force_campaign(lead["id"], campaign_id)
    page.goto(f"/leads/{lead['id']}")
    form = page.locator("#copy-setting")
    expect(form).to_contain_text("Copy: direct (workspace default), 3 steps")
    expect(form.get_by_label("Copy tone for this campaign").locator("option").first).to_have_text(
        "Workspace default (direct)")
    form.get_by_label("Copy tone for this campaign").select_option("friendly")
    form.get_by_label("Steps").select_option("2")
    form.get_by_role("button", name="Save copy setting").click()
    expect(page.locator("#lead-banner")).to_contain_text(
        f"Copy for {name} is now written in friendly, 2 steps. Press PlusVibe Writeback")
    expect(page.locator("#copy-setting")).to_contain_text("Copy: friendly (this campaign), 2 steps")
    listed = {c["id"]: c for c in system.http.get("/api/plusvibe/campaigns").json()}[campaign_id]
    assert (listed["copyTone"], listed["copyToneSource"], listed["copySteps"]) == ("friendly", "campaign", 2)
    full_page_screenshot(page, screenshots / "lead-detail-copy-setting.png")

    page.locator("#generate-tone").select_option("consultative")
    page.locator("#generate-steps").select_option("1")
    page.get_by_role("button", name="Generate Email").click()
    expect(page.locator("#lead-banner")).to_contain_text("Generated 1 email preview.")
    made = system.http.get(f"/api/leads/{lead['id']}/emails").json()
    assert [(e["tone"], e["step"]) for e in made] == [("consultative", 1)]
    page.locator("#generate-tone").select_option("")  # the campaign's setting: friendly, 2 steps
    page.locator("#generate-steps").select_option("")
    page.get_by_role("button", name="Generate Email").click()
    expect(page.locator("#lead-banner")).to_contain_text("Generated 2 email previews.")
    tones = sorted((e["tone"], e["step"]) for e in system.http.get(f"/api/leads/{lead['id']}/emails").json())
    assert tones == [("consultative", 1), ("friendly", 1), ("friendly", 2)]
    system.http.put("/api/copy-settings/default", json={"tone": "consultative"})  # the system is shared
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []
