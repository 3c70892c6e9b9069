"""Copy settings on SQLite with a fake PlusVibe port: the newest CopySettingsChanged of each workspace and campaign is
kept (an older version arriving late or a duplicate changes nothing), and each lead's copy is written with its
campaign's setting, else its workspace default's tone, else `consultative` and the campaign's own step count; an
unlinked lead's with the default's tone (the defaults of a batch read with one query)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from writeback_testkit import (
    FakePlusVibe,
    audit_completed,
    copy_settings_changed,
    decoded,
    lead_pushed,
    lead_upserted,
)

from contracts.copy_settings import CopySettingsChanged
from contracts.envelope import Envelope, EventData
from contracts.profile import PROFILE_KEYS, body_keys
from copywriter import Tone
from servicekit.messaging.events import Decoded
from servicekit.process.tables import outbox
from servicekit.testing import Database, sent_statements
from writeback.adapters.orm import copy_settings, writeback_attempts
from writeback.bootstrap import WritebackService, bootstrap
from writeback.domain.payload import CopyInputs, build_variables
from writeback.handlers import (
    on_audit_completed,
    on_copy_settings_changed,
    on_lead_pushed,
    on_lead_upserted,
)

HANDLERS: dict[str, Any] = {
    "LeadUpserted": on_lead_upserted.handle, "LeadPushed": on_lead_pushed.handle,
    "AuditCompleted": on_audit_completed.handle, "CopySettingsChanged": on_copy_settings_changed.handle,
}
CAMPAIGN, OTHER = "camp-3-steps", "camp-2-steps"
ACME = "acme"


def setting(version: int, *, campaign_id: str = "", tone: str | None = None, steps: int | None = None,
            workspace: str = ACME) -> CopySettingsChanged:
    return copy_settings_changed(version, workspace=workspace, campaign_id=campaign_id, tone=tone, steps=steps)


@pytest.fixture
async def fake() -> FakePlusVibe:
    return FakePlusVibe({CAMPAIGN: 3, OTHER: 2})


@pytest.fixture
async def service(sqlite_database: Database, fake: FakePlusVibe) -> AsyncIterator[WritebackService]:
    svc = bootstrap(plusvibe=fake, database_url=sqlite_database.url,
                    delivery_retry_budget_s=5.0, delivery_backoff_base_s=0.01, delivery_backoff_cap_s=0.02)
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


def in_workspace(*events: EventData, workspace: str = ACME) -> list[Decoded]:
    return [decoded(e, workspace_id=workspace) for e in events]


async def apply(service: WritebackService, *events: EventData | Decoded, group: str = "test") -> None:
    """What the kit's consumers do for a batch, in one transaction (inbox claims, then each run of one event type
    through its handler: a batch handler takes the run, the settings handler one event at a time)."""
    items = [e if isinstance(e, Decoded) else decoded(e) for e in events]
    async with service.runtime.uow() as uow:
        fresh = [item for item in items
                 if await uow.claim_inbox(group, item.envelope.event_id, item.envelope.event_type)]
        for event_type, run in itertools.groupby(fresh, key=lambda item: item.envelope.event_type):
            if event_type == "CopySettingsChanged":
                for item in run:
                    await HANDLERS[event_type](item, uow)
            else:
                await HANDLERS[event_type](list(run), uow)
        await uow.commit()


async def stored(service: WritebackService) -> list[dict[str, Any]]:
    t = copy_settings
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(t.c.workspace, t.c.campaign_id, t.c.tone, t.c.steps, t.c.version)
                                   .order_by(t.c.workspace, t.c.campaign_id))).mappings()
        return [dict(r) for r in rows]


async def published(service: WritebackService) -> dict[str, dict[str, Any]]:
    """Each lead's WritebackCompleted data, by lead id."""
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    events = [Envelope.model_validate_json(bytes(r.payload)) for r in rows]
    assert all(e.event_type == "WritebackCompleted" for e in events)
    return {e.data["lead_id"]: e.data for e in events}


async def inputs_of(service: WritebackService, lead: uuid.UUID) -> CopyInputs:
    t = writeback_attempts
    async with service.runtime.engine.connect() as conn:
        raw = (await conn.execute(select(t.c.inputs).where(t.c.lead_id == lead))).scalar_one()
    return CopyInputs.from_json(raw)


async def linked_lead(service: WritebackService, campaign: str, email: str) -> uuid.UUID:
    lead = uuid.uuid4()
    await apply(service, *in_workspace(lead_upserted(lead, email=email), lead_pushed(lead, campaign, email)))
    await apply(service, *in_workspace(audit_completed(lead)))
    return lead


def sent_to(fake: FakePlusVibe, email: str) -> dict[str, Any]:
    [variables] = [v for e, v, _ in fake.updates if e == email]
    return variables


async def test_the_newest_version_of_each_setting_is_kept_and_an_older_or_duplicate_one_changes_nothing(
    service: WritebackService
) -> None:
    newer = setting(2, campaign_id=CAMPAIGN, tone="direct", steps=4)
    await apply(service, newer, setting(1, tone="friendly"), setting(1, tone="direct", workspace="other"))
    await apply(service, setting(1, campaign_id=CAMPAIGN, tone="friendly"))  # older, late
    await apply(service, decoded(newer))  # the same version again (a new envelope: not caught by the inbox)
    await apply(service, setting(2, campaign_id=CAMPAIGN, tone="consultative"))  # same version, other content
    assert await stored(service) == [
        {"workspace": ACME, "campaign_id": "", "tone": "friendly", "steps": None, "version": 1},
        {"workspace": ACME, "campaign_id": CAMPAIGN, "tone": "direct", "steps": 4, "version": 2},
        {"workspace": "other", "campaign_id": "", "tone": "direct", "steps": None, "version": 1},
    ]
    await apply(service, setting(3, campaign_id=CAMPAIGN))  # a newer version unsets tone and steps
    assert (await stored(service))[1] == {"workspace": ACME, "campaign_id": CAMPAIGN, "tone": None, "steps": None,
                                          "version": 3}


async def test_keep_newest_says_whether_it_stored(service: WritebackService) -> None:
    async with service.runtime.uow() as uow:
        assert await uow.copy_settings.keep_newest(setting(5, tone="direct"))
        assert not await uow.copy_settings.keep_newest(setting(5, tone="friendly"))
        assert not await uow.copy_settings.keep_newest(setting(4, tone="friendly"))
        assert await uow.copy_settings.keep_newest(setting(6, tone="friendly"))
        await uow.commit()


async def test_a_linked_lead_is_written_with_its_campaign_setting_else_the_workspace_default(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    await apply(service, setting(1, campaign_id=CAMPAIGN, tone="direct"), setting(1, tone="friendly"))
    in_campaign = await linked_lead(service, CAMPAIGN, "jo@campaign.test")
    in_other = await linked_lead(service, OTHER, "jo@other.test")
    await service.delivery.drain()

    expected = build_variables(await inputs_of(service, in_campaign), steps=3, tone=Tone.DIRECT)
    assert sent_to(fake, "jo@campaign.test") == expected
    assert expected != build_variables(await inputs_of(service, in_campaign), steps=3, tone=Tone.CONSULTATIVE)
    assert sent_to(fake, "jo@other.test") == build_variables(await inputs_of(service, in_other), steps=2,
                                                             tone=Tone.FRIENDLY)
    events = await published(service)
    assert (events[str(in_campaign)]["tone"], events[str(in_campaign)]["steps"]) == ("direct", 3)
    assert (events[str(in_other)]["tone"], events[str(in_other)]["steps"]) == ("friendly", 2)


async def test_a_step_count_setting_replaces_the_campaigns_own(service: WritebackService, fake: FakePlusVibe) -> None:
    await apply(service, setting(1, campaign_id=CAMPAIGN, steps=4))
    lead = await linked_lead(service, CAMPAIGN, "jo@campaign.test")
    await service.delivery.drain()
    assert set(sent_to(fake, "jo@campaign.test")) == set(PROFILE_KEYS) | set(body_keys(4))
    assert fake.step_lookups == 0  # the setting's count: PlusVibe's is not read
    data = (await published(service))[str(lead)]
    assert data["steps"] == 4 and data["tone"] == "consultative"  # no tone set anywhere: the built-in one


async def test_settings_of_another_workspace_do_not_apply(service: WritebackService, fake: FakePlusVibe) -> None:
    await apply(service, setting(1, campaign_id=CAMPAIGN, tone="direct", workspace="other"),
                setting(1, tone="friendly", workspace="other"))
    lead = await linked_lead(service, CAMPAIGN, "jo@campaign.test")
    await service.delivery.drain()
    assert sent_to(fake, "jo@campaign.test") == build_variables(await inputs_of(service, lead), steps=3,
                                                                tone=Tone.CONSULTATIVE)
    assert (await published(service))[str(lead)]["tone"] == "consultative"


async def test_the_setting_of_the_time_of_sending_applies(service: WritebackService, fake: FakePlusVibe) -> None:
    lead = await linked_lead(service, CAMPAIGN, "jo@campaign.test")  # pending, not sent yet
    await apply(service, setting(1, campaign_id=CAMPAIGN, tone="direct"))
    await service.delivery.drain()
    assert sent_to(fake, "jo@campaign.test") == build_variables(await inputs_of(service, lead), steps=3,
                                                                tone=Tone.DIRECT)


async def test_an_unlinked_lead_is_written_in_its_workspace_defaults_tone_with_one_query_per_batch(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    await apply(service, setting(1, tone="friendly"), setting(1, campaign_id=CAMPAIGN, tone="direct", steps=4),
                setting(1, tone="direct", workspace="beta"))
    acme, beta, plain = [uuid.uuid4() for _ in range(3)], [uuid.uuid4() for _ in range(2)], uuid.uuid4()
    snapshots = ([decoded(lead_upserted(lead, campaign_id=None), workspace_id=ACME) for lead in acme]
                 + [decoded(lead_upserted(lead), workspace_id="beta") for lead in beta]
                 + [decoded(lead_upserted(plain), workspace_id="plain")])
    with sent_statements(service.runtime.engine, naming="copy_settings") as reads:
        await apply(service, *snapshots)
        assert reads == []  # a batch that writes nothing back reads no setting
        await apply(service, *(decoded(audit_completed(lead), workspace_id=item.envelope.workspace_id)
                               for lead, item in zip([*acme, *beta, plain], snapshots, strict=True)))
    assert len(reads) == 1  # the defaults of the batch's three workspaces, at once
    events = await published(service)
    assert {events[str(lead)]["tone"] for lead in acme} == {"friendly"}
    assert {events[str(lead)]["tone"] for lead in beta} == {"direct"}
    assert events[str(plain)]["tone"] == "consultative"
    for lead in acme:
        data = events[str(lead)]
        assert data["delivered"] is False and data["steps"] == 1
        assert data["variables"] == build_variables(await inputs_of(service, lead), steps=1, tone=Tone.FRIENDLY)
    assert fake.updates == []


async def test_a_cut_off_update_is_read_back_with_the_variables_of_its_setting(
    service: WritebackService, fake: FakePlusVibe
) -> None:
    """The read-back compares what PlusVibe holds with the variables built with the same (non-default) setting: the
    applied update is recognised, not sent again."""
    fake.cut_off_after_applying = 1
    await apply(service, setting(1, campaign_id=CAMPAIGN, tone="direct", steps=2))
    lead = await linked_lead(service, CAMPAIGN, "jo@campaign.test")
    for _ in range(50):
        await service.delivery.drain()
        if await published(service):
            break
        await _sleep(0.02)
    assert len(fake.updates) == 1 and fake.read_backs == 1
    data = (await published(service))[str(lead)]
    assert data["delivered"] is True and data["tone"] == "direct"
    assert data["variables"] == build_variables(await inputs_of(service, lead), steps=2, tone=Tone.DIRECT)


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)
