"""Lead detail's Timeline in a real browser: an audit started on the screen, the audit's and the writeback's events
applied by the leads consumers, and an operator's status change all show up, newest first, with who did what;
older events come a page at a time."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_the_timeline_shows_the_leads_story_as_it_happens(page: Page, system: System, screenshots: Path) -> None:
    lead = system.create_lead(companyName=f"Timeline Tiles {uuid.uuid4().hex[:6]}")
    page.goto(f"/leads/{lead['id']}")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li")).to_have_count(1)
    expect(timeline.locator("li").first).to_contain_text("Status created as new")

    page.get_by_role("button", name="Start audit (domain)").click()
    expect(timeline.locator("li[data-kind='audit_requested']")).to_contain_text("Audit requested for acme-bakery.test")
    expect(timeline.locator("li[data-kind='audit_requested']")).to_contain_text("by operator:")
    system.complete_audit(lead["id"], grade="B", steps=2)
    expect(page.locator("#status-badge")).to_have_text("email generated", timeout=30_000)
    expect(timeline.locator("li[data-kind='audit_completed']")).to_contain_text("Audit completed: grade B")
    expect(timeline.locator("li[data-kind='writeback']")).to_contain_text("Copy stored")

    page.get_by_label("Status", exact=True).select_option("retargeted")
    expect(timeline.locator("li").first).to_contain_text("→ retargeted")
    expect(timeline.locator("li").first).to_contain_text("by ")
    kinds = timeline.locator("li").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert kinds.index("status") < kinds.index("writeback") < kinds.index("audit_completed") \
        < kinds.index("audit_requested"), kinds
    total = system.http.get(f"/api/leads/{lead['id']}/timeline").json()["total"]
    expect(page.get_by_text(f"{total} of {total} events")).to_be_visible()
    expect(page.get_by_role("button", name="Show older")).to_be_hidden()  # everything fits on the first page
    full_page_screenshot(page, screenshots / "lead-detail-timeline.png")
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == [], errors
