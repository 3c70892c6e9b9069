"""Every client endpoint against the simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from plusvibe.client import PlusVibeClient
from plusvibe.errors import NotFoundError, PermanentError
from plusvibe.models import LeadIn
from plusvibe.testing import Sim


def _leads(n: int, prefix: str = "lead") -> list[LeadIn]:
    return [
        LeadIn(email=f"{prefix}{i}@example.test", first_name=f"F{i}", custom_variables={"email_body_1": f"b{i}"})
        for i in range(n)
    ]


async def test_authenticate_lists_workspaces_by_underscore_id(client: PlusVibeClient, sim: Sim) -> None:
    workspaces = await client.authenticate()
    assert [w.id for w in workspaces] == [sim.workspace_id]
    assert workspaces[0].name == "Demo agency"


async def test_list_campaigns_walks_every_skip_limit_page(client: PlusVibeClient, sim: Sim) -> None:
    for i in range(3):  # the demo seed has four campaigns
        sim.state.add_campaign(sim.workspace_id, f"extra {i}", [[("s", "b")]])
    campaigns = await client.list_campaigns(page_size=2)
    assert len(campaigns) == 7
    assert len({c.id for c in campaigns}) == 7
    # 7 campaigns in pages of 2: four requests (the last one short).
    assert len(sim.state.request_log("/api/v1/campaign/list-all")) == 4
    active = next(c for c in campaigns if c.id == sim.campaigns["active"])
    assert active.step_count == 3
    assert "{{email_body_1}}" in active.sequences[0].variations[0].body


async def test_empty_campaign_list_object_reads_as_empty_list(client: PlusVibeClient, sim: Sim) -> None:
    other = sim.state.add_workspace("Empty")
    async with PlusVibeClient(sim.settings(workspace_id=other)) as empty:
        assert await empty.list_campaigns() == []


async def test_get_campaign_and_step_count(client: PlusVibeClient, sim: Sim) -> None:
    campaign = await client.get_campaign(sim.campaigns["paused"])
    assert campaign.status == "PAUSED"
    assert await client.campaign_step_count(sim.campaigns["active"]) == 3
    with pytest.raises(NotFoundError):
        await client.get_campaign("0" * 24)


async def test_list_mailboxes_reads_underscore_ids(client: PlusVibeClient) -> None:
    mailboxes = await client.list_mailboxes()
    assert {m.email for m in mailboxes} == {"alex@sender-one.test", "sam@sender-two.test"}
    assert all(m.id for m in mailboxes)


async def test_add_leads_sends_batches_of_at_most_100_and_sums_counts(client: PlusVibeClient, sim: Sim) -> None:
    result = await client.add_leads(sim.campaigns["active"], _leads(250))
    assert result.leads_uploaded == 250
    assert result.batches == 3
    assert len(sim.state.request_log("/api/v1/lead/add")) == 3
    again = await client.add_leads(sim.campaigns["active"], _leads(250))
    assert again.leads_uploaded == 0
    assert again.already_in_campaign == 250


async def test_add_leads_counts_invalid_and_duplicate_emails(client: PlusVibeClient, sim: Sim) -> None:
    result = await client.add_leads(
        sim.campaigns["active"],
        [{"email": "a@example.test"}, {"email": "A@example.test"}, {"email": "not-an-email"}],
    )
    assert (result.leads_uploaded, result.duplicate_email_count, result.invalid_email_count) == (1, 1, 1)


async def test_add_leads_honours_skip_flags(client: PlusVibeClient, sim: Sim) -> None:
    paused, active = sim.campaigns["paused"], sim.campaigns["active"]
    completed = sim.campaigns["completed"]
    await client.add_leads(paused, [{"email": "p@example.test"}])
    await client.add_leads(active, [{"email": "a@example.test"}])
    # Only-ACTIVE flag: a lead in a PAUSED campaign is not skipped, one in an ACTIVE one is.
    r1 = await client.add_leads(
        completed, [{"email": "p@example.test"}, {"email": "a@example.test"}], skip_lead_for_active_only_camp=True
    )
    assert (r1.leads_uploaded, r1.skipped) == (1, 1)
    r2 = await client.add_leads(
        completed, [{"email": "p@example.test"}, {"email": "a@example.test"}], skip_lead_in_active_pause_camp=True
    )
    assert (r2.already_in_campaign, r2.skipped) == (1, 1)
    other = sim.state.add_campaign(sim.workspace_id, "other", [[("s", "b")]])
    r3 = await client.add_leads(
        other, [{"email": "p@example.test"}, {"email": "new@example.test"}], skip_if_in_workspace=True
    )
    assert (r3.leads_uploaded, r3.skipped) == (1, 1)


async def test_add_leads_overwrite_and_resume_flags(client: PlusVibeClient, sim: Sim) -> None:
    completed = sim.campaigns["completed"]
    await client.add_leads(completed, [LeadIn(email="o@example.test", first_name="Old", custom_variables={"k": "1"})])
    await client.add_leads(completed, [LeadIn(email="o@example.test", first_name="New")])
    assert (await client.get_lead("o@example.test"))[0].lead_data.first_name == "Old"
    await client.add_leads(
        completed, [LeadIn(email="o@example.test", first_name="New")], is_overwrite=True, resume_camp_if_completed=True
    )
    row = (await client.get_lead("o@example.test"))[0]
    assert row.lead_data.first_name == "New"
    assert row.variable("k") == "1"  # unsupplied fields are kept
    assert (await client.get_campaign(completed)).status == "ACTIVE"


async def test_update_lead_variables_upserts_and_sets_label(client: PlusVibeClient, sim: Sim) -> None:
    active, paused = sim.campaigns["active"], sim.campaigns["paused"]
    await client.add_leads(active, [LeadIn(email="v@example.test", custom_variables={"a": "1"})])
    await client.add_leads(paused, [LeadIn(email="v@example.test")])
    await client.update_lead_variables(
        "v@example.test", {"a": "2", "b": "3", "label": "INTERESTED"}, campaign_id=active
    )
    rows = {r.campaign: r for r in await client.get_lead("v@example.test")}
    assert rows[active].variable("a") == "2"
    assert rows[active].variable("b") == "3"
    assert rows[active].lead_data.label == "INTERESTED"
    assert rows[paused].variable("b") is None  # scoped to one campaign
    await client.update_lead_variables("v@example.test", {"c": "4"})
    assert all(r.variable("c") == "4" for r in await client.get_lead("v@example.test"))


async def test_get_lead_filters_by_campaign_and_reports_opens(client: PlusVibeClient, sim: Sim) -> None:
    active = sim.campaigns["active"]
    await client.add_leads(active, [{"email": "g@example.test"}])
    await client.add_leads(sim.campaigns["paused"], [{"email": "g@example.test"}])
    assert len(await client.get_lead("g@example.test")) == 2
    sim.state.inject_open("g@example.test", campaign_id=active)
    rows = await client.get_lead("g@example.test", campaign_id=active)
    assert [r.email_opened for r in rows] == [True]
    assert await client.get_lead("nobody@example.test") == []


async def test_mark_lead_completed_stops_the_sequence(client: PlusVibeClient, sim: Sim) -> None:
    active = sim.campaigns["active"]
    await client.add_leads(active, [{"email": "c@example.test"}])
    await client.mark_lead_completed(active, "c@example.test")
    assert (await client.get_lead("c@example.test"))[0].status == "COMPLETED"
    assert sim.state.tick() == []


async def test_simulator_accepts_only_completed_as_new_status(sim: Sim) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            sim.base_url + "/lead/update/status",
            headers={"x-api-key": sim.state.api_key},
            json={
                "workspace_id": sim.workspace_id,
                "campaign_id": sim.campaigns["active"],
                "email": "x@example.test",
                "new_status": "PAUSED",
            },
        )
    assert response.status_code == 400


async def test_delete_leads_is_campaign_scoped_unless_workspace_wide(client: PlusVibeClient, sim: Sim) -> None:
    active, paused = sim.campaigns["active"], sim.campaigns["paused"]
    for camp in (active, paused):
        await client.add_leads(camp, [{"email": "d@example.test"}])
    with pytest.raises(ValueError, match="campaign_id is required"):
        await client.delete_leads(["d@example.test"])
    await client.delete_leads(["d@example.test"], campaign_id=active)
    assert [r.campaign for r in await client.get_lead("d@example.test")] == [paused]
    await client.add_leads(active, [{"email": "d@example.test"}])
    await client.delete_leads(["d@example.test"], workspace_wide=True)
    assert await client.get_lead("d@example.test") == []


async def test_workspace_leads_walks_pages(client: PlusVibeClient, sim: Sim) -> None:
    await client.add_leads(sim.campaigns["active"], _leads(7))
    rows = await client.workspace_leads(campaign_id=sim.campaigns["active"], page_size=3)
    assert sorted(r.email for r in rows) == sorted(f"lead{i}@example.test" for i in range(7))
    assert len(sim.state.request_log("/api/v1/lead/workspace-leads")) == 3
    assert rows[0].total_steps == 3


async def test_unibox_cursor_reply_and_mark_read(client: PlusVibeClient, sim: Sim) -> None:
    sim.state.unibox_page_size = 2
    await client.add_leads(sim.campaigns["active"], _leads(3))
    sim.state.tick()
    inbound = sim.state.inject_reply("lead1@example.test", "Sounds good")
    first = await client.list_unibox_emails()
    assert len(first.data) == 2 and first.page_trail
    everything = [e async for e in client.iter_unibox_emails()]
    assert len(everything) == 4
    mine = [e async for e in client.iter_unibox_emails(lead="lead1@example.test", email_type="received")]
    assert [e.id for e in mine] == [inbound["id"]]
    got = mine[0]
    assert got.is_unread == 1 and got.body.text == "Sounds good"
    result = await client.reply(got.id, got.eaccount, got.lead, f"Re: {got.subject}", "<p>Thanks!</p>")
    assert result.status == "success" and result.id
    thread = [e async for e in client.iter_unibox_emails(lead="lead1@example.test")]
    assert [e.direction for e in thread][:1] == ["OUT"] and len(thread) == 3
    await client.mark_thread_read(got.thread_id)
    assert all(e.is_unread == 0 for e in [e async for e in client.iter_unibox_emails(lead="lead1@example.test")])


async def test_reply_without_from_is_a_permanent_error(client: PlusVibeClient, sim: Sim) -> None:
    await client.add_leads(sim.campaigns["active"], _leads(1))
    sim.state.tick()
    sent = (await client.list_unibox_emails()).data[0]
    with pytest.raises(PermanentError):
        await client.reply(sent.id, "", sent.lead, "Re: x", "<p>x</p>")
    assert len(sim.state.request_log("/api/v1/unibox/emails/reply")) == 1


async def test_webhooks_add_list_delete(client: PlusVibeClient) -> None:
    hook_id = await client.add_webhook("http://127.0.0.1:9/hook", ["ALL_EMAIL_REPLIES"], secret="s3")
    hooks = await client.list_webhooks()
    assert [(h.id, h.evt_types) for h in hooks] == [(hook_id, ["ALL_EMAIL_REPLIES"])]
    await client.delete_webhooks([hook_id])
    assert await client.list_webhooks() == []


async def test_simulator_refuses_non_loopback_webhook_urls(client: PlusVibeClient) -> None:
    with pytest.raises(PermanentError, match="loopback"):
        await client.add_webhook("http://10.0.0.5/hook", ["EMAIL_SENT"])
