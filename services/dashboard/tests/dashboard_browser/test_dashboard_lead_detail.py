"""The Lead detail screen in a real browser against the running system: the whole operator journey (audit →
email_generated live, Generate Email, refused then accepted push, Unibox read/reply, Mark completed, Remove),
the empty states, the blocked Start audit and the full-page load error."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot, settle_then_click

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

EMAILS_EMPTY = "No emails generated yet. Use the Generate Email button above."
UNIBOX_EMPTY = "No Unibox messages for this lead."


def _wait_for(predicate: Any, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _badge(page: Page) -> Any:
    return page.locator("#status-badge")


def _banner(page: Page) -> Any:
    return page.locator("#lead-banner")


def _no_script_errors(page: Page) -> None:
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []


def test_operator_journey_from_new_lead_to_removed_from_plusvibe(page: Page, system: System,
                                                                  screenshots: Path) -> None:
    lead = system.create_lead(companyName="Acme Bakery")
    email = lead["contact"]["email"]
    campaign_id = system.sim.campaigns["active"]

    page.goto("/leads")
    row = page.locator(f"tr[data-lead-id='{lead['id']}']")
    row.get_by_role("link", name="View details").click()
    expect(page).to_have_url(re.compile(f"/leads/{lead['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Bakery")
    expect(_badge(page)).to_have_text("new")
    expect(page.locator("#emails-heading")).to_have_text("Outreach Emails (0)")
    expect(page.get_by_text(EMAILS_EMPTY)).to_be_visible()
    expect(page.get_by_text(UNIBOX_EMPTY)).to_be_visible()
    expect(page.get_by_text("Not audited")).to_be_visible()
    expect(page.get_by_role("button", name="PlusVibe Writeback")).to_have_count(0)

    # The native status <select> shows dropdown labels and never offers the legacy `sent`.
    options = page.locator("#status-select option").all_text_contents()
    assert "audit complete" in options and "email generated" in options
    assert not any(o.strip() in {"sent", "Sent (legacy)"} for o in options)

    # A push before the audit is refused: the 409's reason and remedy show in the banner, nothing enrolled.
    page.get_by_label("Select campaign").select_option(campaign_id)
    page.get_by_role("button", name="Push to PlusVibe").click()
    expect(_banner(page)).to_contain_text("not_audited")
    expect(_banner(page)).to_contain_text("start_audit")
    expect(_banner(page)).to_contain_text("Run an audit first")
    assert not [x for x in system.sim.state.leads.values() if x["email"] == email]
    page.get_by_role("button", name="Dismiss").click()
    expect(_banner(page)).to_be_hidden()

    # Start audit → audit queued; the audit and the writeback land → email generated, without a reload.
    page.get_by_role("button", name="Start audit (domain)").click()
    expect(_badge(page)).to_have_text("audit queued")
    page.evaluate("window.__sameDocument = true")
    started = time.monotonic()
    run_id = system.complete_audit(lead["id"])
    expect(_badge(page)).to_have_text("email generated", timeout=10_000)
    flipped_after_s = time.monotonic() - started
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert flipped_after_s < 5, flipped_after_s
    expect(page.get_by_role("link", name="View audit")).to_have_attribute("href", f"/audits/{run_id}")
    expect(page.get_by_label("Grade C")).to_be_visible()
    expect(page.get_by_text("Visitors see a 'Not secure' warning", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Audit Summary")).to_be_visible()
    expect(page.get_by_text("Grade C: fix https first")).to_be_visible()
    expect(page.locator("#emails-heading")).to_have_text("Outreach Emails (3)")
    expect(page.locator(".emails li").first).to_contain_text("writeback")
    expect(page.locator(".emails li").first).to_contain_text("stored")

    # Generate Email adds a preview and refreshes the list.
    page.get_by_role("button", name="Generate Email").click()
    expect(page.locator("#emails-heading")).to_have_text("Outreach Emails (4)")
    expect(page.locator(".emails")).to_contain_text("preview")
    expect(_banner(page)).to_contain_text("Generated 1 email preview")

    # Now the push is accepted, with every merge variable in the enrolling call.
    page.get_by_label("Select campaign").select_option(campaign_id)
    page.get_by_role("button", name="Push to PlusVibe").click()
    expect(_banner(page)).to_contain_text("Pushed to PlusVibe campaign Website audit outreach")
    expect(page.locator("#plusvibe-heading + dl")).to_contain_text("Website audit outreach")
    enrolled = [x for x in system.sim.state.leads.values() if x["email"] == email]
    assert len(enrolled) == 1 and enrolled[0]["campaign_id"] == campaign_id
    expect(page.get_by_label("Select campaign")).to_have_count(0)

    # PlusVibe Writeback appears with a campaign link and an audit run; its result lands in the banner.
    writeback = page.get_by_role("button", name="PlusVibe Writeback")
    expect(writeback).to_be_enabled()
    writeback.click()
    expect(_banner(page)).to_contain_text("waiting for it to land")
    system.publish_writeback(lead["id"], delivered=True)
    expect(_banner(page)).to_contain_text("PlusVibe Writeback applied", timeout=10_000)
    expect(_banner(page)).to_contain_text("delivered to PlusVibe")

    # Unibox: a simulated reply appears after Refresh; the row opens the composer; a reply is sent; Read.
    system.sim.state.inject_reply(email, "Sounds good, tell me more.", subject="Re: your site",
                                  html="<p>Sounds <b>good</b></p><script>window.parent.__pwned = 1</script>")
    page.get_by_role("button", name="Refresh").click()
    thread_row = page.locator(".thread-row").first
    expect(thread_row).to_contain_text("Re: your site")
    thread_row.click()
    frame = page.locator("iframe.message-frame").first
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.message-frame").first.locator("b")).to_have_text("good")
    assert page.evaluate("window.__pwned === undefined")
    expect(page.get_by_label("Reply from")).to_be_visible()
    expect(page.get_by_label("Subject")).to_have_value("Re: your site")
    page.get_by_label("Body (HTML allowed)").fill("<p>Great, here is the <b>report</b>.</p>")
    page.get_by_role("button", name="Send reply").click()
    expect(_banner(page)).to_contain_text("reply sent from")
    sent = [m for m in system.sim.state.emails if m["direction"] == "OUT" and email in m["to_address_email_list"]]
    assert len(sent) == 1 and "report" in sent[0]["body"]["html"]
    page.locator(".thread-row").first.click()
    page.get_by_role("button", name="Read", exact=True).click()
    expect(_banner(page)).to_contain_text("marked read")
    _wait_for(lambda: all(m["is_unread"] == 0 for m in system.sim.state.emails if m["lead"] == email), "thread read")

    # Operator sets `replied` from the dropdown → Mark completed in PlusVibe appears and works.
    status = page.get_by_label("Status", exact=True)
    status.scroll_into_view_if_needed()
    status.select_option("replied")
    expect(_badge(page)).to_have_text("replied")
    settle_then_click(page, page.get_by_role("button", name="Mark completed in PlusVibe"))
    expect(_banner(page)).to_contain_text("Marked completed in PlusVibe")
    assert enrolled[0]["status"] == "COMPLETED"
    full_page_screenshot(page, screenshots / "lead-detail.png")

    # Remove asks first: Cancel changes nothing, Remove unlinks the lead.
    settle_then_click(page, page.get_by_role("button", name="Remove from PlusVibe"))
    dialog = page.get_by_role("dialog", name="Remove from PlusVibe?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert system.lead(lead["id"])["campaignId"] == campaign_id
    settle_then_click(page, page.get_by_role("button", name="Remove from PlusVibe"))
    dialog.get_by_role("button", name="Remove").click()
    expect(_banner(page)).to_contain_text("Removed from PlusVibe campaign")
    expect(page.get_by_label("Select campaign")).to_be_visible()
    assert system.lead(lead["id"])["campaignId"] is None
    assert not [x for x in system.sim.state.leads.values() if x["email"] == email]
    _no_script_errors(page)


def test_start_audit_is_disabled_without_a_usable_domain(page: Page, system: System) -> None:
    for domain in ("unknown", None):
        lead = system.create_lead(companyName=None, domain=domain, contact={"firstName": "Bo"})
        page.goto(f"/leads/{lead['id']}")
        expect(page.get_by_role("button", name="Start audit (domain)")).to_be_disabled()
        expect(page.get_by_text("the domain is missing or \"unknown\"")).to_be_visible()
        expect(page.get_by_text(EMAILS_EMPTY)).to_be_visible()
        # No contact email: no Unibox panel and no push controls.
        expect(page.get_by_role("heading", name="Unibox")).to_have_count(0)
        expect(page.get_by_label("Select campaign")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(lead["title"])  # neither name nor domain
    # The title falls back to the domain when there is no company name.
    lead = system.create_lead(companyName=None, domain="only-domain.test")
    page.goto(f"/leads/{lead['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("only-domain.test")
    expect(page.get_by_role("button", name="Start audit (domain)")).to_be_enabled()


def test_a_refused_audit_start_shows_the_reason_in_a_dismissable_banner(page: Page, system: System) -> None:
    lead = system.create_lead()
    page.goto(f"/leads/{lead['id']}")
    expect(page.get_by_role("button", name="Start audit (domain)")).to_be_enabled()
    system.http.patch(f"/api/leads/{lead['id']}", json={"domain": "unknown"})  # changed in another tab
    page.get_by_role("button", name="Start audit (domain)").click()
    expect(page.locator("#lead-banner")).to_contain_text("domain_missing")
    expect(page.get_by_role("button", name="Start audit (domain)")).to_be_disabled()
    page.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#lead-banner")).to_be_hidden()


def test_an_unknown_lead_shows_the_full_page_load_error(page: Page) -> None:
    page.goto(f"/leads/{uuid.uuid4()}")
    expect(page.get_by_role("heading", name="Failed to load lead")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("No lead with that id.")
    page.get_by_role("link", name="Back to Leads").click()
    expect(page).to_have_url(re.compile("/leads$"))


def test_the_page_is_served_with_a_strict_content_security_policy(page: Page, system: System) -> None:
    response = page.goto("/leads")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    # Inline script is refused by the browser under this policy.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';
                             document.body.append(s); }""")
    assert page.evaluate("window.__inline === undefined")
