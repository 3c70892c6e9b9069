"""The audit run page in a real browser: a completed run (grade, a score ring per category, checks with findings,
the public report link), a running run that shows progress and then its result without a reload, a failed run's
error message, and an unknown run. GET /api/audits/{id} is served by the test stub until audits has its API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _completed(run_id: str) -> dict[str, Any]:
    return {
        "id": run_id, "status": "completed", "domain": "acme-bakery.test", "grade": "C", "score": 72,
        "errorMessage": None, "reportUrl": f"/r/{run_id[:8]}",
        "categories": {"seo": 70, "performance": 80, "security": 55, "mobile": 100, "accessibility": 90},
        "checks": [
            {"id": "https_redirect", "category": "security", "status": "FAIL", "points": 0,
             "finding": "http://acme-bakery.test/ does not redirect to https", "detail": "Answered 200 on http."},
            {"id": "meta_description", "category": "seo", "status": "PASS", "points": 5, "finding": "", "detail": ""},
        ],
        "profile": {"audit_grade": "C"},
    }


def test_a_completed_run_shows_grade_rings_checks_and_the_report_link(page: Page, system: System) -> None:
    run_id = str(uuid.uuid4())
    system.audits.runs[run_id] = _completed(run_id)
    page.goto(f"/audits/{run_id}")
    expect(page.locator("#audit-status")).to_have_text("completed")
    expect(page.get_by_label("Grade C")).to_be_visible()
    expect(page.get_by_role("list", name="Scores per category").get_by_role("listitem")).to_have_count(5)
    expect(page.get_by_role("img", name="security score 55")).to_be_visible()
    checks = page.locator("ul.checks > li")
    expect(checks).to_have_count(2)
    expect(checks.first).to_contain_text("https redirect")
    expect(checks.first.locator(".badge")).to_have_text("fail")
    expect(checks.first).to_contain_text("does not redirect to https")
    expect(checks.first).to_contain_text("Answered 200 on http.")
    expect(checks.nth(1).locator(".badge")).to_have_text("pass")
    expect(page.get_by_role("link", name="Open the public report")).to_have_attribute("href", f"/r/{run_id[:8]}")


def test_a_running_run_shows_progress_then_its_result_without_reload(page: Page, system: System) -> None:
    run_id = str(uuid.uuid4())
    system.audits.runs[run_id] = {"id": run_id, "status": "running", "progress": 0.4, "checks": []}
    page.goto(f"/audits/{run_id}")
    expect(page.get_by_role("progressbar", name="Audit progress")).to_have_attribute("value", "40")
    page.evaluate("window.__sameDocument = true")
    system.audits.runs[run_id] = _completed(run_id)
    expect(page.locator("#audit-status")).to_have_text("completed", timeout=5_000)
    assert page.evaluate("window.__sameDocument") is True


def test_a_failed_run_shows_its_error_message(page: Page, system: System) -> None:
    run_id = str(uuid.uuid4())
    system.audits.runs[run_id] = {"id": run_id, "status": "failed", "errorMessage": "DNS lookup failed for the domain",
                                  "checks": []}
    page.goto(f"/audits/{run_id}")
    expect(page.get_by_role("alert")).to_contain_text("DNS lookup failed for the domain")
    expect(page.locator("#audit-status")).to_have_text("failed")


def test_an_unknown_run_shows_the_load_error(page: Page) -> None:
    page.goto(f"/audits/{uuid.uuid4()}")
    expect(page.get_by_role("heading", name="Failed to load audit")).to_be_visible()
