"""Export CSV in a real browser: the file the browser saves holds every lead the list's search matches (more than
one page), with a formula-like company name neutralised."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_export_saves_every_lead_the_search_matches(page: Page, system: System) -> None:
    tag = f"exp{uuid.uuid4().hex[:6]}"
    ids = {system.create_lead(companyName=f"{tag} Shop {n:02d}")["id"] for n in range(27)}  # two pages of 25
    ids.add(system.create_lead(companyName=f"=HYPERLINK(\"x\") {tag}")["id"])
    page.goto(f"/leads?q={tag}")
    expect(page.get_by_text("Page 1 of 2 · 28 leads")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("leads-") and download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {row["id"] for row in rows} == ids
    assert f"'=HYPERLINK(\"x\") {tag}" in {row["company_name"] for row in rows}
    expect(page.locator("#leads-banner")).to_contain_text("Exported leads-")
