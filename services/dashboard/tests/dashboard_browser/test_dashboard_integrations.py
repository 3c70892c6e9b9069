"""The Integrations page in a real browser, against the leads API and the PlusVibe simulator: the environment's key
shown as such, a rejected key refused with its reason and nothing stored, a key connected (its workspaces found,
one picked, only the last four characters shown), Test connection, Disconnect. The key is connected back at the
end: the other browser tests share the system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import System, connect_on_integrations_page, full_page_screenshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def reconnected(system: System) -> Iterator[System]:
    yield system
    r = system.http.put("/api/integrations/plusvibe",
                        json={"apiKey": system.sim.state.api_key, "workspaceId": system.sim.workspace_id})
    assert r.status_code == 200, r.text


def test_an_operator_connects_tests_and_disconnects_plusvibe(page: Page, reconnected: System,
                                                              screenshots: Path) -> None:
    system = reconnected
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    expect(page.locator("#pv-state")).to_have_text(
        "Connected here" if system.http.get("/api/integrations/plusvibe").json()["source"] == "integration"
        else "From the deployment's environment (PLUSVIBE_API_KEY)")

    # A key PlusVibe does not know: refused with the reason, nothing stored.
    before = system.http.get("/api/integrations/plusvibe").json()
    page.get_by_label("PlusVibe API key").fill("pv-not-a-real-key-0000")
    page.get_by_role("button", name="Find workspaces").click()
    expect(page.locator("#integrations-banner")).to_contain_text("PlusVibe rejected the API key")
    expect(page.locator("#integrations-banner")).to_contain_text("plusvibe_key_rejected")
    assert system.http.get("/api/integrations/plusvibe").json() == before

    # The simulator's key: its workspaces, one picked, connected, shown masked.
    key = system.sim.state.api_key
    connect_on_integrations_page(page, key, system.sim.workspace_id)
    expect(page.locator("#integrations-banner")).to_contain_text("…" + key[-4:])
    expect(page.get_by_label("PlusVibe API key")).to_have_value("")
    assert key not in page.content()

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#integrations-banner")).to_contain_text("Connection works")
    expect(page.locator("dl.fields")).to_contain_text("Last verified")
    # This test system gives leads no public webhook URL: the page says the hook is added by hand.
    expect(page.locator("dl.fields")).to_contain_text("Not configured: this deployment has no public webhook URL")
    full_page_screenshot(page, screenshots / "integrations.png")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#pv-state")).to_have_text("Not connected")
    assert system.http.get("/api/plusvibe/campaigns").json()["reason"] == "plusvibe_not_configured"
    # Script errors only: the refused key's 400 (and the favicon's 404) are resources the browser reports too.
    assert [e for e in page.errors if "Failed to load resource" not in e] == []  # type: ignore[attr-defined]
