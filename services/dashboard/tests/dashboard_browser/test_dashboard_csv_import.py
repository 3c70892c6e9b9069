"""CSV import and the bulk Start audit in a real browser: upload, the suggested mapping, a custom field, an import
refused for an invalid row with its errors downloadable, the valid rows imported with a progress bar, then Start audit
on the selected leads with a result per lead."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_import_with_an_invalid_row_then_start_audit_on_the_imported_leads(
        page: Page, system: System, tmp_path: Path, screenshots: Path) -> None:
    tag = f"imp{uuid.uuid4().hex[:6]}"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([
        ["Company", "Website", "First Name", "Email", "Industry"],
        [f"{tag} Bakery", f"{tag}-bakery.test", "Ada", f"ada@{tag}-bakery.test", "bakery"],
        [f"{tag} Florist", "", "Flo", f"flo@{tag}-florist.test", "flowers"],
        [f"{tag} Broken", "", "Bo", "not-an-email", "none"],
    ])
    path = tmp_path / "leads.csv"
    path.write_bytes(("\ufeff" + out.getvalue()).encode())

    page.goto("/leads")
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name="Import leads")).to_be_visible()
    page.locator("#import-file").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="2. Map the columns of leads.csv (3 rows)")).to_be_visible()
    expect(page.get_by_label("Field for column Email")).to_have_value("email")
    expect(page.get_by_label("Field for column Website")).to_have_value("domain")
    page.get_by_label("Field for column Industry").select_option(label="Custom field…")
    expect(page.get_by_label("Custom field name for Industry")).to_have_value("industry")

    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#import-preview")).to_contain_text("2 new, 0 updated, 0 skipped as duplicates, 1 invalid.")
    page.get_by_role("button", name="Import 3 rows").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("0 created")
    expect(page.locator("#import-banner")).to_contain_text("nothing was imported")
    expect(result.locator("tbody tr")).to_have_count(1)
    expect(result).to_contain_text("'not-an-email' is not an email address")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the 1 invalid rows (CSV)").click()
    errors = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"), newline="")))
    assert errors[0][:4] == ["line", "column", "reason", "message"] and errors[1][0] == "4"

    page.get_by_label("Import the valid rows even if some rows are invalid").check()
    page.get_by_role("button", name="Import 3 rows").click()
    expect(result).to_contain_text("2 created, 0 updated, 0 skipped as duplicates, 1 invalid.")
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    full_page_screenshot(page, screenshots / "lead-import.png")

    page.goto(f"/leads?q={tag}")
    expect(page.get_by_text("Page 1 of 1 · 2 leads")).to_be_visible()
    page.get_by_label("Select all on page").check()
    page.get_by_role("button", name="Start audit").click()
    banner = page.locator("#leads-banner")
    expect(banner).to_contain_text("Audit started for 1 of 2 selected leads.")
    expect(banner).to_contain_text("(domain_missing)")
    bakery = page.locator("tr", has_text=f"{tag} Bakery")
    expect(bakery.locator(".badge")).to_have_text("Audit Queued")
    leads = system.http.get("/api/leads", params={"q": tag}).json()["items"]
    assert {lead["customFields"]["industry"] for lead in leads} == {"bakery", "flowers"}
