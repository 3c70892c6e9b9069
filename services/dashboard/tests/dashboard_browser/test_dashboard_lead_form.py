"""The lead form in a real browser, against the leads API: a new lead with two bad fields is refused with each
reason beside its field and nothing is created; fixed, it is created and opens; Edit lead changes and clears fields;
a link to a field (the push guard's "Edit the lead") focuses it. Delete lead asks first, then the lead is gone; a
lead in a PlusVibe campaign cannot be deleted, and the screen says why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _found(system: System, text: str) -> list[dict[str, object]]:
    return list(system.http.get("/api/leads", params={"q": text}).json()["items"])


def test_an_operator_creates_and_edits_a_lead_with_the_api_reasons_beside_the_fields(
        page: Page, system: System, screenshots: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    company = f"Form Bakery {tag}"
    page.get_by_role("link", name="New lead").click()
    expect(page.get_by_role("heading", name="New lead")).to_be_visible()
    page.get_by_label("Company name").fill(company)
    page.get_by_label("Domain (website)").fill("not a domain!")
    page.get_by_label("Contact first name").fill("Fiona")
    page.get_by_label("Contact email").fill("fiona-at-nowhere")
    page.get_by_role("button", name="Create lead").click()

    expect(page.locator("#lead-form-banner")).to_contain_text("fix the marked fields")
    expect(page.locator("#lead-domain-error")).to_contain_text("is not a domain name")
    expect(page.locator("#lead-email-error")).to_contain_text("is not an email address")
    expect(page.get_by_label("Domain (website)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Contact email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Company name")).not_to_have_attribute("aria-invalid", "true")
    full_page_screenshot(page, screenshots / "lead-form-errors.png")
    assert _found(system, tag) == []  # nothing half-written

    page.get_by_label("Domain (website)").fill(f"https://www.form-bakery-{tag}.test/about")
    page.get_by_label("Contact email").fill(f"Fiona@Form-Bakery-{tag}.test")
    page.get_by_label("Job title").fill("Owner")
    page.get_by_label("Phone").fill("+44 20 7946 0000")
    page.get_by_role("button", name="Create lead").click()
    page.wait_for_url("**/leads/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text(company)
    [created] = _found(system, tag)
    lead = system.lead(str(created["id"]))
    assert lead["domain"] == f"www.form-bakery-{tag}.test"  # normalised by the API
    assert lead["contact"]["email"] == f"fiona@form-bakery-{tag}.test"
    assert (lead["contact"]["title"], lead["contact"]["phone"]) == ("Owner", "+44 20 7946 0000")

    page.get_by_role("link", name="Edit lead").click()
    expect(page.get_by_role("heading", name=f"Edit {company}")).to_be_visible()
    expect(page.get_by_label("Contact first name")).to_have_value("Fiona")
    # Someone else changes the last name while the form is open: saving the form's own changes keeps theirs.
    assert system.http.patch(f"/api/leads/{lead['id']}", json={"contact": {"lastName": "Fenwick"}}).status_code == 200
    page.get_by_label("Job title").fill("Co-owner")
    page.get_by_label("Phone").fill("")
    page.get_by_label("Notes").fill("Met at the trade fair.\nCall after 10.")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/leads/{lead['id']}")
    edited = system.lead(str(lead["id"]))
    assert edited["contact"]["title"] == "Co-owner"
    assert edited["contact"]["phone"] is None
    assert edited["notes"] == "Met at the trade fair.\nCall after 10."
    assert edited["contact"]["email"] == lead["contact"]["email"]  # untouched fields stay
    assert edited["contact"]["lastName"] == "Fenwick"  # not overwritten with the value the form loaded

    page.goto(f"/leads/{lead['id']}/edit#email")
    expect(page.get_by_label("Contact email")).to_be_focused()
    # Refused requests (the 422, a 404 by design) are logged by the browser; script errors are not allowed.
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == [], errors


def test_an_operator_deletes_a_lead_after_confirming_and_a_lead_in_a_campaign_is_kept(page: Page,
                                                                                      system: System) -> None:
    tag = uuid.uuid4().hex[:8]
    lead = system.create_lead(companyName=f"Delete Me {tag}")
    page.goto(f"/leads/{lead['id']}")
    page.get_by_role("button", name="Delete lead").click()
    dialog = page.get_by_role("dialog", name="Delete lead?")
    expect(dialog).to_contain_text("PlusVibe is not affected")
    dialog.get_by_role("button", name="Cancel").click()
    assert system.http.get(f"/api/leads/{lead['id']}").status_code == 200  # cancelled: nothing deleted

    page.get_by_role("button", name="Delete lead").click()
    page.get_by_role("dialog", name="Delete lead?").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/leads")
    assert system.http.get(f"/api/leads/{lead['id']}").status_code == 404
    page.goto(f"/leads?q={tag}")
    expect(page.locator("table")).not_to_contain_text(f"Delete Me {tag}")

    enrolled = system.create_lead(companyName=f"Enrolled {tag}")
    system.force_campaign(enrolled["id"], "camp-kept")
    page.goto(f"/leads/{enrolled['id']}")
    expect(page.get_by_role("button", name="Delete lead")).to_be_disabled()
    expect(page.locator("#delete-blocked")).to_contain_text("remove it from PlusVibe first")
    refused = system.http.delete(f"/api/leads/{enrolled['id']}")
    assert (refused.status_code, refused.json()["reason"]) == (409, "lead_in_campaign")


def test_custom_fields_are_added_refused_with_the_reason_and_shown_on_the_lead(
        page: Page, system: System, screenshots: Path) -> None:
    lead = system.create_lead(companyName=f"Custom Bakery {uuid.uuid4().hex[:6]}")
    page.goto(f"/leads/{lead['id']}/edit")
    page.get_by_role("button", name="Add custom field").click()
    page.get_by_label("Custom field name").last.fill("audit_grade")  # the platform fills it
    page.get_by_label("Custom field value").last.fill("A+")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#custom-fields-error")).to_contain_text("'audit_grade' is filled by the platform")
    assert system.lead(lead["id"])["customFields"] == {}

    page.get_by_label("Custom field name").last.fill("industry")
    page.get_by_label("Custom field value").last.fill("artisan bakery")
    page.get_by_role("button", name="Add custom field").click()
    page.get_by_label("Custom field name").last.fill("region")
    page.get_by_label("Custom field value").last.fill("the North")
    full_page_screenshot(page, screenshots / "lead-form-custom-fields.png")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#status-badge")).to_be_visible()
    contact = page.locator("section[aria-labelledby='contact-heading']")
    expect(contact).to_contain_text("{{industry}}")
    expect(contact).to_contain_text("artisan bakery")
    assert system.lead(lead["id"])["customFields"] == {"industry": "artisan bakery", "region": "the North"}

    page.goto(f"/leads/{lead['id']}/edit")  # removing one keeps the other
    first = page.get_by_label("Custom field name").first.input_value()
    page.get_by_role("button", name="Remove custom field").first.click()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#status-badge")).to_be_visible()
    both = {"industry": "artisan bakery", "region": "the North"}
    assert system.lead(lead["id"])["customFields"] == {k: v for k, v in both.items() if k != first}
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == []
