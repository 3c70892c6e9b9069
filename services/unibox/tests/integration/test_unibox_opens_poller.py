"""The opens poller reads `email_opened` from the simulator and emits EmailActivityReceived(opened) once per
lead and campaign, only for leads in active campaigns; the periodic job polls each served workspace's leads with that
workspace's PlusVibe account."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from unibox_testkit import ACME, PortsByWorkspace, client_account, enrol, settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.status import LeadStatus
from plusvibe.client import PlusVibeClient
from plusvibe.testing import Sim
from servicekit.process.tables import outbox
from servicekit.testing import Database, wait_until
from unibox.bootstrap import bootstrap
from unibox.handlers.periodic_jobs import run_periodic_jobs
from unibox.handlers.poll_opens import poll_opens_once


def snapshot(email: str, campaign_id: str, status: LeadStatus = LeadStatus.EMAIL_SENT) -> LeadSnapshot:
    now = datetime.now(UTC)
    return LeadSnapshot(lead_id=uuid.uuid4(), version=1, contact=Contact(email=email), status=status,
                        campaign_id=campaign_id, created_at=now, updated_at=now)


async def test_an_open_is_emitted_once_per_lead_and_campaign(sim: Sim, sqlite_database: Database) -> None:
    enrol(sim, "ana@example.test")
    enrol(sim, "pat@example.test", campaign="paused")
    service = bootstrap(settings_for(sqlite_database), plusvibe=PlusVibeClient(sim.settings()))
    await service.runtime.migrate()
    ana = snapshot("ana@example.test", sim.campaigns["active"])
    pat = snapshot("pat@example.test", sim.campaigns["paused"])
    async with service.uow() as uow:
        await uow.leads.apply(ana, deleted=False, at=datetime.now(UTC))
        await uow.leads.apply(pat, deleted=False, at=datetime.now(UTC))
        await uow.commit()

    async def poll() -> int:
        return await poll_opens_once(service.uow, service.plusvibe(DEFAULT_WORKSPACE), lead_statuses=["email_sent"],
                                     campaign_statuses=["ACTIVE"], batch_size=10)

    try:
        assert await poll() == 0  # nothing opened yet
        sim.state.inject_open("ana@example.test")
        sim.state.inject_open("pat@example.test")  # opened, but its campaign is paused
        assert await poll() == 1
        assert await poll() == 0
        assert await poll() == 0
        async with service.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload, outbox.c.msg_key))).all()
    finally:
        await service.aclose()
        await service.runtime.dispose()
    assert len(rows) == 1
    event = json.loads(rows[0].payload)
    assert rows[0].event_type == "EmailActivityReceived"
    assert rows[0].msg_key == str(ana.lead_id)
    assert event["data"]["activity"] == "opened"
    assert event["data"]["lead_id"] == str(ana.lead_id)
    assert event["data"]["campaign_id"] == sim.campaigns["active"]
    assert event["data"]["raw_payload"]["email_opened"] is True
    lead_get_calls = [r for r in sim.state.request_log("/api/v1/lead/get")]
    assert {r.status for r in lead_get_calls} == {200}
    assert len(lead_get_calls) == 2  # ana before and after the open; never again once announced, never pat


async def test_the_periodic_poller_runs_for_each_served_workspace_with_its_own_account(
    sim: Sim, sqlite_database: Database
) -> None:
    """One address, a lead in each workspace, each workspace's lead in its own PlusVibe workspace: only acme's lead
    opened, so one event, of acme and acme's lead; the default workspace's lead of the same address stays unopened."""
    acme = client_account(sim.base_url, sim.state)
    enrol(sim, "ana@example.test")
    enrol(acme, "ana@example.test")
    sim.state.inject_open("ana@example.test", campaign_id=acme.campaigns["active"])
    settings = settings_for(sqlite_database, workspaces=f"{DEFAULT_WORKSPACE},{ACME}", opens_poll_interval_s=0.05,
                            webhook_sweep_interval_s=0, opens_lead_statuses=("email_sent",))
    ports = PortsByWorkspace({DEFAULT_WORKSPACE: PlusVibeClient(sim.settings()),
                              ACME: PlusVibeClient(sim.settings(workspace_id=acme.workspace_id))})
    service = bootstrap(settings, plusvibe_ports=ports)
    await service.runtime.migrate()
    leads = {DEFAULT_WORKSPACE: snapshot("ana@example.test", sim.campaigns["active"]),
             ACME: snapshot("ana@example.test", acme.campaigns["active"])}
    async with service.uow() as uow:
        for workspace, lead in leads.items():
            await uow.leads.apply(lead, deleted=False, at=datetime.now(UTC), workspace=workspace)
        await uow.commit()

    async def rows() -> list[Any]:
        async with service.runtime.engine.connect() as conn:
            return list((await conn.execute(select(outbox.c.payload))).scalars().all())

    async def both_asked() -> bool:
        return len(sim.state.request_log("/api/v1/lead/get")) >= 4  # each workspace's lead, twice at least

    stop = asyncio.Event()
    jobs = asyncio.create_task(run_periodic_jobs(stop, uows=service.uow, plusvibe=service.plusvibe,
                                                 settings=settings))
    try:
        await wait_until(both_asked, timeout_s=15, what="both workspaces' leads polled")
        stop.set()
        await asyncio.wait_for(jobs, 10)
        events = [json.loads(r) for r in await rows()]
    finally:
        stop.set()
        await service.aclose()
        await service.runtime.dispose()
    assert [(e["workspace_id"], e["lead_id"], e["data"]["campaign_id"]) for e in events] == [
        (ACME, str(leads[ACME].lead_id), acme.campaigns["active"])]
