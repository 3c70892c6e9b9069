"""Webhook processing on SQLite: a webhook for an email the projection does not know yet waits for the
LeadUpserted (the sweeper retries it), is emitted once when the lead appears, and after the grace period is
emitted without a lead rather than lost."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from unibox_testkit import settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.status import LeadStatus
from plusvibe.client import PlusVibeClient
from plusvibe.settings import PlusVibeSettings
from servicekit.process.tables import outbox
from servicekit.testing import Database
from unibox.adapters.orm import webhook_events
from unibox.bootstrap import UniboxService, bootstrap
from unibox.handlers.receive_webhook import receive, sweep


async def _service(db: Database) -> UniboxService:
    service = bootstrap(settings_for(db), plusvibe=PlusVibeClient(PlusVibeSettings(base_url="http://127.0.0.1:9")))
    await service.runtime.migrate()
    return service


async def _emitted(service: UniboxService) -> list[dict[str, object]]:
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars().all()
    return [json.loads(r) for r in rows]


async def _project(service: UniboxService, email: str, version: int = 1, *, deleted: bool = False) -> uuid.UUID:
    lead_id = uuid.uuid5(uuid.NAMESPACE_DNS, email)
    now = datetime.now(UTC)
    async with service.uow() as uow:
        await uow.leads.apply(LeadSnapshot(lead_id=lead_id, version=version, contact=Contact(email=email),
                                           status=LeadStatus.EMAIL_SENT, created_at=now, updated_at=now),
                              deleted=deleted, at=now)
        await uow.commit()
    return lead_id


async def test_an_unmatched_webhook_waits_for_the_projection_then_is_emitted_once(sqlite_database: Database) -> None:
    service = await _service(sqlite_database)
    try:
        payload = {"webhook_event": "EMAIL_SENT", "email": "late@example.test", "subject": "Hi"}
        receipt = await receive(payload, service.uow, match_grace_s=300)
        assert receipt.emitted is False
        assert await sweep(service.uow, match_grace_s=300) == 0
        lead_id = await _project(service, "late@example.test")
        assert await sweep(service.uow, match_grace_s=300) == 1
        assert await sweep(service.uow, match_grace_s=300) == 0
        again = await receive(payload, service.uow, match_grace_s=300)
        assert (again.duplicate, again.emitted) == (True, False)
        events = await _emitted(service)
    finally:
        await service.runtime.dispose()
    assert [e["lead_id"] for e in events] == [str(lead_id)]


async def test_after_the_grace_period_an_unmatched_webhook_is_emitted_without_a_lead(
    sqlite_database: Database,
) -> None:
    service = await _service(sqlite_database)
    try:
        receipt = await receive({"webhook_event": "BOUNCED_EMAIL", "email": "ghost@example.test",
                                 "is_camp_paused": True}, service.uow, match_grace_s=0)
        events = await _emitted(service)
    finally:
        await service.runtime.dispose()
    assert receipt.emitted is True
    assert len(events) == 1
    assert events[0]["lead_id"] is None
    assert events[0]["data"]["activity"] == "bounced"  # type: ignore[index]
    assert events[0]["data"]["is_camp_paused"] is True  # type: ignore[index]


async def test_the_projection_keeps_the_newest_version_and_forgets_deleted_leads(sqlite_database: Database) -> None:
    service = await _service(sqlite_database)
    try:
        lead_id = await _project(service, "ana@example.test", version=2)
        async with service.uow() as uow:
            stale = LeadSnapshot(lead_id=lead_id, version=1, contact=Contact(email="stale@example.test"),
                                 status=LeadStatus.NEW, created_at=datetime.now(UTC), updated_at=datetime.now(UTC))
            assert await uow.leads.apply(stale, deleted=False, at=datetime.now(UTC)) is False
            await uow.commit()
        async with service.uow() as uow:
            assert (await uow.leads.find(DEFAULT_WORKSPACE, "ANA@example.test")) is not None
            assert await uow.leads.find(DEFAULT_WORKSPACE, "stale@example.test") is None
        await _project(service, "ana@example.test", version=3, deleted=True)
        async with service.uow() as uow:
            assert await uow.leads.find(DEFAULT_WORKSPACE, "ana@example.test") is None
    finally:
        await service.runtime.dispose()


async def test_a_webhook_and_its_event_belong_to_the_platform_workspace_it_arrived_for(
    sqlite_database: Database,
) -> None:
    """Not to the PlusVibe workspace the payload names: the envelope's workspace_id is the platform's."""
    service = await _service(sqlite_database)
    try:
        payload = {"webhook_event": "BOUNCED_EMAIL", "email": "ws@example.test", "workspace_id": "pv-ws-1"}
        legacy = await receive({**payload, "n": 1}, service.uow, match_grace_s=0)
        scoped = await receive(payload, service.uow, match_grace_s=0, workspace="acme")
        async with service.uow() as uow:
            stored = {w.id: w.workspace for w in await uow.webhooks.unprocessed(10)}
            rows = dict((await uow.session.execute(select(webhook_events.c.id, webhook_events.c.workspace))).all())
        events = await _emitted(service)
    finally:
        await service.runtime.dispose()
    assert stored == {}  # both emitted
    assert rows == {legacy.webhook_id: "default", scoped.webhook_id: "acme"}
    assert sorted(e["workspace_id"] for e in events) == ["acme", "default"]  # type: ignore[type-var]
