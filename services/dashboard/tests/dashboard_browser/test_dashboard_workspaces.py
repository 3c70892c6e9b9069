"""The workspace switcher in a real browser: an operator whose key reaches two workspaces sees both (with their
PlusVibe state), switches, sees only that workspace's leads, finds the choice remembered after a reload, connects the
second workspace's PlusVibe key on its own Integrations page without touching the first's, and cannot open the other
workspace's lead by its URL. A remembered workspace that is no longer served is forgotten."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_browser.dashboard_testkit import (
    API_KEY,
    SECOND_WORKSPACE,
    System,
    connect_on_integrations_page,
    full_page_screenshot,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def second_disconnected(system: System) -> Iterator[System]:
    """The second workspace starts and ends without an integration (the other tests share the system)."""
    headers = {"X-Workspace": SECOND_WORKSPACE}
    system.http.delete("/api/integrations/plusvibe", headers=headers)
    yield system
    r = system.http.delete("/api/integrations/plusvibe", headers=headers)
    assert r.status_code == 200, r.text


def test_an_operator_switches_workspaces_and_sees_only_that_clients_leads(page: Page, second_disconnected: System,
                                                                         screenshots: Path) -> None:
    system = second_disconnected
    tag = uuid.uuid4().hex[:6]
    mine = system.create_lead(companyName=f"Default Co {tag}")
    theirs = system.create_lead(workspace=SECOND_WORKSPACE, companyName=f"Second Co {tag}")

    switch = page.get_by_label("Workspace", exact=True)
    expect(switch).to_have_value("default")
    assert switch.locator("option").all_inner_texts() == ["default", SECOND_WORKSPACE]
    # The environment's key, or the key the Integrations test connected (then with its PlusVibe workspace's name).
    expect(page.locator("#workspace-state")).to_have_text(re.compile(r"^PlusVibe connected"))

    page.goto(f"/leads?q={tag}")
    expect(page.locator("table")).to_contain_text(f"Default Co {tag}")
    expect(page.locator("table")).not_to_contain_text(f"Second Co {tag}")

    switch.select_option(SECOND_WORKSPACE)
    page.wait_for_url("**/leads")
    expect(page.get_by_label("Workspace", exact=True)).to_have_value(SECOND_WORKSPACE)
    expect(page.locator("#workspace-state")).to_have_text("PlusVibe not connected")
    expect(page.locator("table")).to_contain_text(f"Second Co {tag}")
    expect(page.locator("table")).not_to_contain_text(f"Default Co {tag}")
    full_page_screenshot(page, screenshots / "workspace-switcher.png")

    page.reload()  # remembered
    expect(page.get_by_label("Workspace", exact=True)).to_have_value(SECOND_WORKSPACE)
    expect(page.locator("table")).to_contain_text(f"Second Co {tag}")

    # The other workspace's lead by its URL: not found, as an id that does not exist.
    page.goto(f"/leads/{mine['id']}")
    expect(page.get_by_role("heading", name="Failed to load lead")).to_be_visible()
    page.goto(f"/leads/{theirs['id']}")
    expect(page.get_by_role("heading", name=f"Second Co {tag}")).to_be_visible()

    # Its own Integrations page: not connected; connecting it leaves default's integration as it was.
    before_default = system.http.get("/api/integrations/plusvibe").json()
    page.locator("#nav-integrations").click()
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    expect(page.locator("#pv-state")).not_to_have_text("Connected here")
    key = system.sim.state.api_key
    connect_on_integrations_page(page, key, system.sim.workspace_id)
    second = system.http.get("/api/integrations/plusvibe", headers={"X-Workspace": SECOND_WORKSPACE}).json()
    assert second["connected"] is True and second["source"] == "integration"
    assert system.http.get("/api/integrations/plusvibe").json() == before_default
    page.reload()
    expect(page.locator("#workspace-state")).to_have_text(
        f"PlusVibe connected: {second['plusvibeWorkspaceName']}")

    # Back to default: its own leads again.
    page.get_by_label("Workspace", exact=True).select_option("default")
    page.wait_for_url("**/integrations")
    page.goto(f"/leads?q={tag}")
    expect(page.locator("table")).to_contain_text(f"Default Co {tag}")
    # Refused requests (the 422, a 404 by design) are logged by the browser; script errors are not allowed.
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert errors == [], errors


def test_a_remembered_workspace_that_is_gone_is_forgotten(page: Page, system: System) -> None:
    page.evaluate("localStorage.setItem('outreach.workspace', 'closed-client');"
                  "sessionStorage.setItem('outreach.workspace', 'closed-client')")
    page.reload()
    expect(page.get_by_label("Workspace", exact=True)).to_have_value("default")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    assert page.evaluate("localStorage.getItem('outreach.workspace')") == "default"


def test_switching_in_one_tab_never_redirects_another_tabs_calls(page: Page, system: System) -> None:
    """Two tabs of one browser: the second switches to the other workspace; the first, still showing default, keeps
    working in default (a lead it creates lands there), and a new tab opens on the last choice."""
    other = page.context.new_page()
    other.goto(f"/leads#key={API_KEY}")  # the API key belongs to a tab too
    other.get_by_label("Workspace", exact=True).select_option(SECOND_WORKSPACE)
    other.wait_for_url("**/leads")
    expect(other.get_by_label("Workspace", exact=True)).to_have_value(SECOND_WORKSPACE)

    tag = uuid.uuid4().hex[:8]
    page.get_by_role("link", name="New lead").click()
    page.get_by_label("Company name").fill(f"Tab One {tag}")
    page.get_by_role("button", name="Create lead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Tab One {tag}")  # created, its page open
    found = system.http.get("/api/leads", params={"q": tag}).json()
    elsewhere = system.http.get("/api/leads", params={"q": tag}, headers={"X-Workspace": SECOND_WORKSPACE}).json()
    assert elsewhere["total"] == 0, (page.url, elsewhere)
    assert [i["companyName"] for i in found["items"]] == [f"Tab One {tag}"]  # in default, where the tab was
    expect(page.get_by_label("Workspace", exact=True)).to_have_value("default")

    fresh = page.context.new_page()
    fresh.goto(f"/leads#key={API_KEY}")
    expect(fresh.get_by_label("Workspace", exact=True)).to_have_value(SECOND_WORKSPACE)  # the remembered choice
