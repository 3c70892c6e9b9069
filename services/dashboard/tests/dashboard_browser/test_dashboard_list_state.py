"""Back keeps the Leads list as the operator left it (search, status filter, page, selected rows), from a lead
and from an audit; the lead's contextual help opens a page the dashboard serves."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_back_from_a_lead_returns_to_the_same_search_page_and_selection(page: Page, system: System) -> None:
    tag = f"back{int(time.time() * 1000) % 10_000_000}"
    leads = [system.create_lead(companyName=f"{tag} Cafe {n:02d}", domain=f"cafe{n}.{tag}.test") for n in range(27)]

    page.goto("/leads")
    page.get_by_label("Search").fill(tag)
    page.get_by_label("Status").select_option("new")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Page 1 of 2 · 27 leads")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Page 2 of 2 · 27 leads")).to_be_visible()
    rows = page.locator("table.leads tbody tr")
    expect(rows).to_have_count(2)
    picked = rows.first.get_attribute("data-lead-id")
    assert picked in {lead["id"] for lead in leads}
    rows.first.get_by_role("checkbox").check()
    expect(page.get_by_text("1 selected")).to_be_visible()
    list_url = page.url

    rows.first.get_by_role("link", name="View details").click()
    expect(page).to_have_url(re.compile(rf"/leads/{picked}$"))
    page.get_by_role("button", name="Back", exact=True).click()

    expect(page).to_have_url(list_url)
    expect(page.get_by_label("Search")).to_have_value(tag)
    expect(page.get_by_text("Page 2 of 2 · 27 leads")).to_be_visible()
    expect(page.locator(f"tr[data-lead-id='{picked}']").get_by_role("checkbox")).to_be_checked()
    expect(page.get_by_text("1 selected")).to_be_visible()

    # Selection is the operator's across searches within the page.
    page.get_by_label("Search").fill(f"{tag} Cafe 0")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Page 1 of 1 · 10 leads")).to_be_visible()
    page.get_by_label("Search").fill(tag)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Page 1 of 2 · 27 leads")).to_be_visible()
    expect(page.get_by_text("1 selected")).to_be_visible()

    # The nav's Leads link is a fresh list: nothing carried over.
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(page.get_by_label("Search")).to_have_value("")
    expect(page.get_by_text("1 selected")).to_have_count(0)


def test_the_lead_detail_help_link_opens_the_help_page(page: Page, system: System) -> None:
    lead = system.create_lead(companyName="Helpful Bakery", domain="helpful-bakery.test")
    page.goto(f"/leads/{lead['id']}")
    page.get_by_role("link", name="Help: this screen").click()
    expect(page).to_have_url(re.compile(r"/help/lead-detail$"))
    expect(page.get_by_role("heading", name="Lead detail", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Why a push can be refused")).to_be_visible()
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
