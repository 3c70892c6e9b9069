"""The Leads table in a real browser: 25 rows a page, the columns and badge labels, selection, the bulk push
whose refusal lists every refused lead with reason and remedy, a successful bulk push and Mark completed."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import API_KEY, System

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _email_generated(system: System, lead_id: str) -> None:
    system.http.post(f"/api/leads/{lead_id}/audits")
    system.complete_audit(lead_id)
    deadline = time.monotonic() + 15
    while system.lead(lead_id)["status"] != "email_generated":
        assert time.monotonic() < deadline, "lead never reached email_generated"
        time.sleep(0.1)


def test_the_table_pages_by_25_with_badges_and_bulk_actions(page: Page, system: System, screenshots: Path) -> None:
    tag = f"tbl{int(time.time() * 1000) % 10_000_000}"
    leads = [system.create_lead(companyName=f"{tag} Shop {n:02d}", domain=f"shop{n}.{tag}.test") for n in range(28)]
    ready = leads[-2:]  # the newest two sort first (updated_at desc)
    for lead in ready:
        _email_generated(system, lead["id"])
    queued = leads[-3]
    system.http.post(f"/api/leads/{queued['id']}/audits")

    page.goto(f"/leads?q={tag}")
    rows = page.locator("table.leads tbody tr")
    expect(rows).to_have_count(25)
    expect(page.get_by_text("Page 1 of 2 · 28 leads")).to_be_visible()
    headers = [h.strip() for h in page.locator("table.leads thead th").all_text_contents()]
    assert headers == ["Select all on page", "Company / domain", "Contact", "Status", "Grade", "Top issue", "Opens",
                       "Actions"]
    ready_row = page.locator(f"tr[data-lead-id='{ready[0]['id']}']")
    expect(ready_row.locator(".badge")).to_have_text("Email Ready")
    expect(ready_row).to_contain_text("Visitors see a 'Not secure' warning")
    run_id = system.lead(ready[0]["id"])["audit"]["auditRunId"]
    expect(ready_row.get_by_role("link", name="View audit")).to_have_attribute("href", f"/audits/{run_id}")
    expect(page.locator(f"tr[data-lead-id='{queued['id']}'] .badge")).to_have_text("Audit Queued")
    expect(page.locator(f"tr[data-lead-id='{leads[-4]['id']}'] .badge")).to_have_text("New")
    expect(page.locator(f"tr[data-lead-id='{leads[-4]['id']}']").get_by_role("link", name="View audit")).to_have_count(0)
    page.screenshot(path=str(screenshots / "leads.png"), full_page=False)

    # Select all on page, then a push is refused: the banner lists every refused lead with reason and remedy.
    page.get_by_label("Select all on page").check()
    expect(page.get_by_text("25 selected")).to_be_visible()
    page.get_by_label("Campaign").select_option(system.sim.campaigns["active"])
    page.get_by_role("button", name="Push selected").click()
    banner = page.locator("#leads-banner")
    expect(banner).to_contain_text("Push refused")
    items = banner.locator("li")
    expect(items).to_have_count(23)  # 25 selected, 2 ready
    expect(banner).to_contain_text(f"{tag} Shop 25 — status audit_queued: not_audited.")
    expect(items.first).to_contain_text("Remedy: Run an audit first with Start audit (domain). (start_audit)")
    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_be_hidden()

    # Only the two ready leads: enrolled; then Mark completed reports the per-lead refusals in the banner.
    page.get_by_label("Select all on page").uncheck()
    for lead in ready:
        page.get_by_label(f"Select {lead['title']}").check()
    page.get_by_role("button", name="Push selected").click()
    expect(banner).to_contain_text("2 enrolled, 0 already enrolled")
    for lead in ready:
        page.get_by_label(f"Select {lead['title']}").check()
    page.get_by_role("button", name="Push selected").click()
    expect(banner).to_contain_text("0 enrolled, 2 already enrolled")
    system.http.patch(f"/api/leads/{ready[0]['id']}", json={"status": "converted"})
    page.reload()
    for lead in ready:
        page.get_by_label(f"Select {lead['title']}").check()
    page.get_by_role("button", name="Mark completed").click()
    expect(banner).to_contain_text("Marked completed in PlusVibe: 1 of 2.")
    expect(banner.locator("li")).to_have_text([re.compile(f"{ready[1]['title']}: .*status_not_completable")])

    # The second page holds the rest; View details opens the lead.
    page.get_by_role("button", name="Next").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_text("Page 2 of 2 · 28 leads")).to_be_visible()
    rows.first.get_by_role("link", name="View details").click()
    expect(page).to_have_url(re.compile(r"/leads/[0-9a-f-]{36}$"))
    expect(page.get_by_role("button", name="Back", exact=True)).to_be_visible()
    page.get_by_role("button", name="Back", exact=True).click()
    # Back to the list as it was left: the same search and page (test_dashboard_list_state.py has the rest).
    expect(page).to_have_url(re.compile(rf"/leads\?q={tag}&page=2$"))
    expect(page.get_by_text("Page 2 of 2 · 28 leads")).to_be_visible()


def test_the_api_key_comes_from_the_fragment_and_is_not_left_in_the_address(page: Page, system: System) -> None:
    page.evaluate("sessionStorage.clear()")
    page.goto(f"/leads?fresh=1#key={API_KEY}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    page.goto(f"/leads?fresh=1#key={API_KEY}x")  # same document: the new key replaces the old one
    expect(page).to_have_url(re.compile(r"/leads\?fresh=1$"))
    assert page.evaluate("sessionStorage.getItem('outreach.apiKey')") == API_KEY + "x"
    page.goto(f"/leads#key={API_KEY}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    assert "#key" not in page.url
    assert page.evaluate("sessionStorage.getItem('outreach.apiKey')") == API_KEY


def test_without_a_key_the_operator_is_asked_for_one_and_a_wrong_key_is_refused(browser: object, system: System
                                                                                 ) -> None:
    context = browser.new_context(base_url=system.url)  # type: ignore[attr-defined]
    try:
        tab = context.new_page()
        tab.goto("/leads")
        expect(tab.get_by_role("heading", name="Enter your API key")).to_be_visible()
        tab.get_by_label("API key", exact=True).fill("not-the-key")
        tab.get_by_role("button", name="Save key").click()
        expect(tab.get_by_role("alert")).to_contain_text("The API key was refused")
        tab.get_by_label("API key", exact=True).fill(API_KEY)
        tab.get_by_role("button", name="Save key").click()
        expect(tab.get_by_role("heading", name="Leads")).to_be_visible()
        expect(tab.locator("table.leads")).to_be_visible()
    finally:
        context.close()


def test_a_legacy_sent_row_is_labelled_and_can_be_normalised(page: Page, system: System) -> None:
    lead = system.create_lead(companyName="Legacy Row Ltd")
    system.force_legacy_sent(lead["id"])
    page.goto("/leads?q=Legacy%20Row")
    row = page.locator(f"tr[data-lead-id='{lead['id']}']")
    expect(row.locator(".badge")).to_have_text("Sent (legacy)")
    # The detail dropdown never offers `sent`, not even for a row that holds it.
    page.goto(f"/leads/{lead['id']}")
    options = page.locator("#status-select option")
    expect(options.first).to_have_text("sent (legacy; normalise it)")
    expect(options.first).to_be_disabled()
    assert "sent" not in page.locator("#status-select option:not([disabled])").evaluate_all(
        "els => els.map(e => e.value)")
    page.go_back()
    row.get_by_role("button", name="Normalise status").click()
    expect(page.locator("#leads-banner")).to_contain_text("Normalised the status of Legacy Row Ltd")
    expect(row.locator(".badge")).to_have_text("Email Sent")
