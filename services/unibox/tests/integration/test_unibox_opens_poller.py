"""The opens poller reads `email_opened` from the simulator and emits EmailActivityReceived(opened) once per
lead and campaign, only for leads in active campaigns."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from unibox_testkit import enrol, settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.status import LeadStatus
from plusvibe.client import PlusVibeClient
from plusvibe.testing import Sim
from servicekit.process.tables import outbox
from servicekit.testing import Database
from unibox.bootstrap import bootstrap
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
        return await poll_opens_once(service.uow, service.plusvibe, lead_statuses=["email_sent"],
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
