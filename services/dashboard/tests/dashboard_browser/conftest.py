"""Fixtures of the dashboard's browser tests: one running system per session and one headless Debian chromium
(driven by Playwright through its executable path: no browser download)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard_browser.dashboard_testkit import API_KEY, CHROMIUM, CHROMIUM_ARGS, System, running_system

SCREENSHOTS = Path(__file__).resolve().parents[4] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def system(postgres_url: str, kafka_bootstrap: str) -> Iterator[System]:
    with running_system(postgres_url, kafka_bootstrap) as running:
        yield running


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[object]:
    """Module-scoped on purpose: sync Playwright keeps an event loop running on this thread while it is open,
    which async tests (and `asyncio.run` in fixtures) cannot share. It depends on `system` so the broker and
    database fixtures are set up before that loop exists."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/local/setup-browser.sh`")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object, system: System) -> Iterator[object]:
    """A fresh tab (own sessionStorage) that has the API key, with console errors collected on `page.errors`."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=system.url)  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.errors = errors
    tab.goto(f"/leads#key={API_KEY}")
    tab.get_by_role("heading", name="Leads").wait_for()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
