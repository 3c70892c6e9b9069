"""One page of `/lead/workspace-leads` (`workspace_leads_page`): the client's own method, the connected port's
delegation, the simulator holding 2,000 leads of a workspace, and a fault aimed at one page by its query."""

from __future__ import annotations

import httpx
import pytest

from plusvibe.client import PlusVibeClient
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credentials import Credentials
from plusvibe.errors import TransientError
from plusvibe.testing import Sim

LEADS = 2_000


def _seed(sim: Sim, count: int, *, campaign: str = "active", offset: int = 0) -> None:
    """`count` leads in one of the demo campaigns, added the way `/lead/add` does (100 per call)."""
    rows = [{"email": f"p{offset + i:05d}@page.test", "first_name": f"F{offset + i}", "last_name": "Page",
             "company_name": f"Company {offset + i}", "company_website": f"https://c{offset + i}.test/about"}
            for i in range(count)]
    for start in range(0, count, 100):
        result = sim.state.api_lead_add({"workspace_id": sim.workspace_id, "campaign_id": sim.campaigns[campaign],
                                         "leads": rows[start:start + 100]})
        assert result["leads_uploaded"] == len(rows[start:start + 100])


async def test_a_page_is_one_request_with_the_rows_of_that_page(client: PlusVibeClient, sim: Sim) -> None:
    _seed(sim, 250)
    first, third, fourth = [await client.workspace_leads_page(n, 100) for n in (1, 3, 4)]
    assert [r.email for r in first] == [f"p{i:05d}@page.test" for i in range(100)]
    assert [r.email for r in third] == [f"p{i:05d}@page.test" for i in range(200, 250)]  # short: the last page
    assert fourth == []
    assert len(sim.state.request_log("/api/v1/lead/workspace-leads")) == 3
    row = first[7]
    assert (row.first_name, row.last_name, row.campaign_id) == ("F7", "Page", sim.campaigns["active"])
    assert (row.model_extra or {})["company_website"] == "https://c7.test/about"


async def test_page_and_limit_are_checked_before_any_request(client: PlusVibeClient, sim: Sim) -> None:
    for page, limit in ((0, 100), (1, 0), (1, 101)):
        with pytest.raises(ValueError):
            await client.workspace_leads_page(page, limit)
    assert sim.state.request_log("/api/v1/lead/workspace-leads") == []


async def test_the_walk_reuses_the_page_method_and_stops_at_a_short_page(client: PlusVibeClient, sim: Sim) -> None:
    _seed(sim, 7)
    rows = await client.workspace_leads(page_size=3)
    assert [r.email for r in rows] == [f"p{i:05d}@page.test" for i in range(7)]
    queries = [r.path for r in sim.state.request_log("/api/v1/lead/workspace-leads")]
    assert len(queries) == 3


async def test_the_simulator_holds_2000_leads_of_a_workspace_in_21_pages(client: PlusVibeClient, sim: Sim) -> None:
    _seed(sim, LEADS - 500)
    _seed(sim, 500, campaign="paused", offset=LEADS - 500)
    emails: list[str] = []
    page = 1
    while True:
        rows = await client.workspace_leads_page(page)
        emails.extend(r.email for r in rows)
        if len(rows) < 100:
            break
        page += 1
    assert page == 21  # 20 full pages, then an empty one
    assert emails == [f"p{i:05d}@page.test" for i in range(LEADS)]


async def test_the_connected_port_delegates_the_page_call(sim: Sim) -> None:
    _seed(sim, 3)

    async def stored() -> Credentials:
        return Credentials(sim.settings().api_key, sim.workspace_id)

    connected = ConnectedPlusVibe(sim.settings(), stored)
    try:
        rows = await connected.as_port().workspace_leads_page(1, 2)
    finally:
        await connected.aclose()
    assert [r.email for r in rows] == ["p00000@page.test", "p00001@page.test"]


async def test_a_fault_with_params_hits_only_the_page_it_names(client: PlusVibeClient, sim: Sim,
                                                                control: httpx.AsyncClient) -> None:
    _seed(sim, 300)
    r = await control.post("/faults", json={"path": "/api/v1/lead/workspace-leads", "params": {"page": "2"},
                                            "status": 500, "times": None})
    assert r.status_code == 200 and r.json()["params"] == {"page": "2"}
    assert len(await client.workspace_leads_page(1)) == 100
    assert len(await client.workspace_leads_page(3)) == 100
    with pytest.raises(TransientError):
        await client.workspace_leads_page(2)
    statuses = [(r.status, r.fault) for r in sim.state.request_log("/api/v1/lead/workspace-leads")]
    assert statuses == [(200, ""), (200, ""), *[(500, "status")] * sim.settings().attempts]
    await control.delete("/faults")
    assert len(await client.workspace_leads_page(2)) == 100
