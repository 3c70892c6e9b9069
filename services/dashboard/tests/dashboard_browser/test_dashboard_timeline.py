"""Lead detail's Timeline in a real browser: an audit started on the screen, the audit's and the writeback's events
applied by the leads consumers, an operator's status change and a PlusVibe reply webhook (its raw payload one click
away, shown as text) all show up, newest first, with who did what; older events come a page at a time."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contracts.topics import EMAIL_ACTIVITY_RECEIVED
from contracts.unibox import EmailActivityReceived
from dashboard_browser.dashboard_testkit import System, full_page_screenshot
from servicekit.messaging.events import new_envelope

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
    # The lead answers; unibox passes PlusVibe's reply webhook on (its HTML must stay text on the screen).
    system.publish(EMAIL_ACTIVITY_RECEIVED, new_envelope(EmailActivityReceived(
        lead_id=uuid.UUID(lead["id"]), activity="replied", webhook_event="ALL_EMAIL_REPLIES", subject="Re: tiles",
        observed_at=datetime.now(UTC), raw_payload={"webhook_event": "ALL_EMAIL_REPLIES", "subject": "Re: tiles",
                                                    "text_body": "Happy to talk <img src=x onerror=alert(1)>"})))
    deadline = time.monotonic() + 30
    while not any(i["kind"] == "reply" for i in system.http.get(f"/api/leads/{lead['id']}/timeline").json()["items"]):
        assert time.monotonic() < deadline, "the reply never reached the timeline"
        time.sleep(0.1)
    page.reload()  # Lead detail polls only while an audit or a writeback is in flight
    reply = timeline.locator("li[data-kind='reply']")
    expect(reply).to_contain_text("Reply received — “Re: tiles” · Happy to talk")
    reply.get_by_text("Raw webhook").click()
    expect(reply.locator("pre")).to_contain_text('"webhook_event": "ALL_EMAIL_REPLIES"')
    expect(reply.locator("pre")).to_contain_text("<img src=x onerror=alert(1)>")
    assert timeline.locator("img").count() == 0
    total = system.http.get(f"/api/leads/{lead['id']}/timeline").json()["total"]
    expect(page.get_by_text(f"{total} of {total} events")).to_be_visible()
    expect(page.get_by_role("button", name="Show older")).to_be_hidden()  # everything fits on the first page
    full_page_screenshot(page, screenshots / "lead-detail-timeline.png")
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == [], errors
