"""The consumer handlers and the delivery worker on SQLite with a fake PlusVibe port."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from writeback_testkit import (
    T0,
    FakePlusVibe,
    audit_completed,
    decoded,
    lead_pushed,
    lead_upserted,
    writeback_requested,
)

from contracts.envelope import Envelope, EventData
from contracts.profile import PROFILE_KEYS, body_keys
from plusvibe.errors import PermanentError, TransientError
from servicekit.messaging.events import Decoded
from servicekit.process.tables import outbox
from servicekit.testing import Database
from writeback.adapters.orm import writeback_attempts
from writeback.bootstrap import WritebackService, bootstrap
from writeback.handlers import (
    on_audit_completed,
    on_lead_pushed,
    on_lead_removed_from_campaign,
    on_lead_upserted,
    on_writeback_requested,
)

HANDLERS: dict[str, Any] = {
    "LeadUpserted": on_lead_upserted.handle, "LeadPushed": on_lead_pushed.handle,
    "LeadRemovedFromCampaign": on_lead_removed_from_campaign.handle,
    "AuditCompleted": on_audit_completed.handle, "WritebackRequested": on_writeback_requested.handle,
}
CAMPAIGN = "camp-3-steps"


@pytest.fixture
async def fake() -> FakePlusVibe:
    return FakePlusVibe({CAMPAIGN: 3})


@pytest.fixture
async def service(sqlite_database: Database, fake: FakePlusVibe) -> AsyncIterator[WritebackService]:
    svc = bootstrap(plusvibe=fake, database_url=sqlite_database.url, delivery_retry_budget_s=5.0,  # type: ignore[arg-type]
                    delivery_backoff_base_s=0.01, delivery_backoff_cap_s=0.02)
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


async def apply(service: WritebackService, *events: EventData | Decoded, group: str = "test") -> None:
    """What the kit's consumers do for a batch, in one transaction: the inbox claims, then each run of events of
    one type (one topic's batch) through that event's batch handler."""
    items = [e if isinstance(e, Decoded) else decoded(e) for e in events]
    async with service.runtime.uow() as uow:
        fresh = [item for item in items
                 if await uow.claim_inbox(group, item.envelope.event_id, item.envelope.event_type)]
        for event_type, run in itertools.groupby(fresh, key=lambda item: item.envelope.event_type):
            await HANDLERS[event_type](list(run), uow)
        await uow.commit()


async def published(service: WritebackService) -> list[Envelope]:
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    return [Envelope.model_validate_json(bytes(r.payload)) for r in rows]


async def attempts(service: WritebackService) -> list[Any]:
    async with service.runtime.engine.connect() as conn:
        return list((await conn.execute(select(writeback_attempts).order_by(writeback_attempts.c.created_at))).mappings())


async def test_unlinked_lead_gets_variables_with_delivered_false_and_no_plusvibe_call(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    audit = audit_completed(lead)
    await apply(service, lead_upserted(lead))
    await apply(service, audit)
    await service.delivery.drain()
    events = await published(service)
    assert [e.event_type for e in events] == ["WritebackCompleted"]
    data = events[0].data
    assert data["delivered"] is False and data["audit_run_id"] == str(audit.audit_run_id)
    assert set(data["variables"]) == set(PROFILE_KEYS) | set(body_keys(1))
    assert fake.updates == [] and fake.step_lookups == 0


async def test_linked_lead_is_sent_with_the_campaign_steps_then_announced_delivered(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "pushed@acme.test"))
    await apply(service, audit_completed(lead))
    assert await published(service) == []  # nothing is announced before PlusVibe has the variables
    await service.delivery.drain()
    assert len(fake.updates) == 1
    email, variables, campaign = fake.updates[0]
    assert (email, campaign) == ("pushed@acme.test", CAMPAIGN)
    assert set(variables) == set(PROFILE_KEYS) | set(body_keys(3))
    [event] = await published(service)
    assert event.event_type == "WritebackCompleted" and event.data["delivered"] is True
    assert event.data["variables"] == variables and event.data["steps"] == 3


async def test_stale_audit_changes_nothing_and_calls_nothing(service: WritebackService, fake: FakePlusVibe) -> None:
    lead = uuid.uuid4()
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead, requested_at=T0 + timedelta(hours=1)))
    await service.delivery.drain()
    before = (await attempts(service), await published(service))
    await apply(service, audit_completed(lead, requested_at=T0))
    await service.delivery.drain()
    assert (await attempts(service), await published(service)) == before
    assert len(fake.updates) == 1


async def test_replayed_audit_with_a_new_event_id_makes_no_call_and_no_event(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    audit = audit_completed(lead)
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit)
    await service.delivery.drain()
    await apply(service, audit, group="another-group")  # same event, new consumer group
    await apply(service, decoded(audit))  # same body, new envelope (re-published)
    await service.delivery.drain()
    assert len(fake.updates) == 1
    assert len(await published(service)) == 1


async def test_a_newer_audit_supersedes_a_pending_delivery_so_only_the_newest_is_sent(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    newer = audit_completed(lead, requested_at=T0 + timedelta(hours=1), profile=None)
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead, requested_at=T0))
    await apply(service, newer)
    await service.delivery.drain()
    assert len(fake.updates) == 1
    [event] = await published(service)
    assert event.data["audit_run_id"] == str(newer.audit_run_id)
    assert [a["status"] for a in await attempts(service)] == ["superseded", "delivered"]


async def test_manual_writeback_resends_once_per_request(service: WritebackService, fake: FakePlusVibe) -> None:
    lead = uuid.uuid4()
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead))
    await service.delivery.drain()
    request = writeback_requested(lead, CAMPAIGN)
    await apply(service, request)
    await service.delivery.drain()
    await apply(service, request, group="replay")  # the same request replayed: no second send
    await service.delivery.drain()
    assert len(fake.updates) == 2 and fake.updates[0] == fake.updates[1]
    events = await published(service)
    assert [e.data["request_id"] for e in events] == [None, str(request.request_id)]


async def test_permanent_plusvibe_error_fails_at_once_with_writeback_failed(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    fake.fail_with = [PermanentError("lead not found", status_code=400)]
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead))
    await service.delivery.drain()
    [event] = await published(service)
    assert event.event_type == "WritebackFailed" and event.data["attempts"] == 1
    assert "lead not found" in event.data["error"]


async def test_transient_errors_are_retried_then_delivered(service: WritebackService, fake: FakePlusVibe) -> None:
    lead = uuid.uuid4()
    fake.fail_with = [TransientError("server error", status_code=503)] * 2
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead))
    for _ in range(50):
        await service.delivery.drain()
        if fake.updates:
            break
        await _sleep(0.02)
    [event] = await published(service)
    assert event.event_type == "WritebackCompleted" and event.data["delivered"] is True
    [row] = await attempts(service)
    assert row["attempts"] == 3 and row["status"] == "delivered"


async def test_an_update_whose_answer_was_lost_is_read_back_not_sent_again(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    lead = uuid.uuid4()
    fake.cut_off_after_applying = 1
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead))
    await _deliver_until_announced(service)
    [event] = await published(service)
    assert event.event_type == "WritebackCompleted" and event.data["delivered"] is True
    assert len(fake.updates) == 1 and fake.read_backs == 1  # applied once, then confirmed by reading it back
    [row] = await attempts(service)
    assert row["attempts"] == 2 and row["status"] == "delivered"


async def test_a_read_back_that_does_not_find_the_variables_sends_them(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    """The previous try may have been applied but was not (e.g. the worker died before the request left): the
    read-back finds nothing, so the update is sent."""
    from plusvibe.errors import AmbiguousSendError

    lead = uuid.uuid4()
    fake.fail_with = [AmbiguousSendError("connection lost after sending; outcome unknown")]
    await apply(service, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
    await apply(service, audit_completed(lead))
    await _deliver_until_announced(service)
    [event] = await published(service)
    assert event.event_type == "WritebackCompleted"
    assert len(fake.updates) == 1 and fake.read_backs == 1


async def test_transient_errors_beyond_the_budget_end_in_writeback_failed(
    sqlite_database: Database, fake: FakePlusVibe
) -> None:
    svc = bootstrap(plusvibe=fake, database_url=sqlite_database.url, delivery_retry_budget_s=0.2,  # type: ignore[arg-type]
                    delivery_backoff_base_s=0.05, delivery_backoff_cap_s=0.05)
    await svc.runtime.migrate()
    try:
        lead = uuid.uuid4()
        fake.fail_with = [TransientError("server error", status_code=503)] * 100
        await apply(svc, lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test"))
        await apply(svc, audit_completed(lead))
        for _ in range(40):
            await svc.delivery.drain()
            if await published(svc):
                break
            await _sleep(0.05)
        [event] = await published(svc)
        assert event.event_type == "WritebackFailed" and event.data["attempts"] >= 2
        assert fake.updates == []
    finally:
        await svc.runtime.dispose()


async def _deliver_until_announced(service: WritebackService) -> None:
    """Runs the delivery worker until an outcome is published (a retry waits out its backoff first)."""
    for _ in range(50):
        await service.delivery.drain()
        if await published(service):
            return
        await _sleep(0.02)


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)
