"""The Lead detail journey in a real browser against the whole system (real audits of a demo website, real
writeback, unibox, the simulator's webhooks), through the launcher's gateway: nothing is emulated."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from dashboard_browser.dashboard_testkit import full_page_screenshot, settle_then_click
from playwright.sync_api import Page, expect

from outreach_local.system import LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
SCREENSHOTS = Path(__file__).resolve().parents[4] / "docs" / "screenshots"


def _status(api: httpx.Client, lead_id: str) -> str:
    return str(api.get(f"/api/leads/{lead_id}").json()["status"])


def _until(check: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_the_lead_journey_on_the_whole_system(whole_system: LocalSystem, whole_browser: object) -> None:
    cfg = whole_system.config
    email = f"nora+{uuid.uuid4().hex[:6]}@acme-plumbing.test"
    with httpx.Client(base_url=cfg.gateway_url, headers={"X-API-Key": cfg.api_key}, timeout=30,
                      trust_env=False) as api, httpx.Client(base_url=cfg.simulator_url, timeout=30,
                                                            trust_env=False) as sim:
        active = next(c["id"] for c in api.get("/api/plusvibe/campaigns").json() if c["status"] == "ACTIVE")
        lead = api.post("/api/leads", json={"companyName": "Acme Plumbing", "domain": "acme-plumbing.test",
                                            "contact": {"firstName": "Nora", "email": email}}).json()
        context = whole_browser.new_context(viewport={"width": 1360, "height": 900},  # type: ignore[attr-defined]
                                            base_url=cfg.gateway_url)
        page: Page = context.new_page()
        try:
            page.goto(f"/leads#key={cfg.api_key}")
            page.locator(f"tr[data-lead-id='{lead['id']}']").get_by_role("link", name="View details").click()
            expect(page.locator("#status-badge")).to_have_text("new")

            # Push before the audit: the 409 reason and remedy in the banner.
            page.get_by_label("Select campaign").select_option(active)
            page.get_by_role("button", name="Push to PlusVibe").click()
            expect(page.locator("#lead-banner")).to_contain_text("not_audited")

            # Start audit: the real audit of the demo site, the real writeback; the badge flips by itself.
            page.evaluate("window.__sameDocument = true")
            page.get_by_role("button", name="Start audit (domain)").click()
            expect(page.locator("#status-badge")).to_have_text("email generated", timeout=90_000)
            assert page.evaluate("window.__sameDocument") is True
            expect(page.locator("#emails-heading")).to_have_text(re.compile(r"Outreach Emails \([1-9]\d*\)"))

            # The audit run page: rings per category, checks with findings, the public report link.
            page.get_by_role("link", name="View audit").click()
            expect(page.locator("#audit-status")).to_have_text("completed")
            expect(page.get_by_role("list", name="Scores per category").get_by_role("listitem")).not_to_have_count(0)
            expect(page.locator("ul.checks > li").first).to_be_visible()
            report = page.get_by_role("link", name="Open the public report").get_attribute("href")
            assert report and "/r/" in report
            full_page_screenshot(page, SCREENSHOTS / "audit-run.png")
            page.go_back()

            # Push accepted; the simulated reply arrives as a webhook → replied; Unibox shows the thread.
            page.get_by_label("Select campaign").select_option(active)
            page.get_by_role("button", name="Push to PlusVibe").click()
            expect(page.locator("#lead-banner")).to_contain_text("Pushed to PlusVibe campaign")
            sim.post("/_sim/inject/reply", json={"email": email, "text": "Can we talk Tuesday?",
                                                 "html": "<p>Can we talk <b>Tuesday</b>?</p>"})
            sim.post("/_sim/webhooks/flush")
            _until(lambda: _status(api, lead["id"]) == "replied", "replied")
            page.reload()
            expect(page.locator("#status-badge")).to_have_text("replied")
            page.get_by_role("button", name="Refresh").click()
            page.locator(".thread-row").first.click()
            expect(page.frame_locator("iframe.message-frame").first.locator("b")).to_have_text("Tuesday")
            page.get_by_label("Body (HTML allowed)").fill("<p>Tuesday works.</p>")
            page.get_by_role("button", name="Send reply").click()
            expect(page.locator("#lead-banner")).to_contain_text("reply sent from")
            page.locator(".thread-row").first.click()
            page.get_by_role("button", name="Read", exact=True).click()
            expect(page.locator("#lead-banner")).to_contain_text("marked read")

            settle_then_click(page, page.get_by_role("button", name="Mark completed in PlusVibe"))
            expect(page.locator("#lead-banner")).to_contain_text("Marked completed in PlusVibe")
            settle_then_click(page, page.get_by_role("button", name="Remove from PlusVibe"))
            page.get_by_role("dialog").get_by_role("button", name="Remove").click()
            expect(page.locator("#lead-banner")).to_contain_text("Removed from PlusVibe campaign")
            assert api.get(f"/api/leads/{lead['id']}").json()["campaignId"] is None
        finally:
            context.close()
