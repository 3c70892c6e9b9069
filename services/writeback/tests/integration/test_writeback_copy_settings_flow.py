"""Copy settings end to end on the real broker and PostgreSQL, with the PlusVibe simulator: leads' CopySettingsChanged
(compacted topic, keyed `<workspace>:<campaign_id>`) decides the tone and step count of the copy PlusVibe receives
and WritebackCompleted announces; an older version published after a newer one changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from writeback_testkit import (
    PROFILE,
    ServiceRunner,
    audit_completed,
    copy_settings_changed,
    enrol,
    lead_pushed,
    lead_upserted,
    publish,
    publish_copy_settings,
    sim_variables,
    writeback_requested,
)

from contracts.envelope import Envelope
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.profile import PROFILE_KEYS, body_keys
from contracts.topics import WRITEBACK_COMPLETED
from copywriter import Tone
from plusvibe.testing import Sim
from servicekit.testing import read_topic, wait_until
from writeback.adapters.orm import copy_settings
from writeback.bootstrap import WritebackService
from writeback.domain.payload import CopyInputs, build_variables

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
# What the copy of every lead of these tests is built from (writeback_testkit's lead and audit).
INPUTS = CopyInputs(dict(PROFILE), company_name="Acme", domain="acme.test", first_name="Jo")


async def stored_settings(svc: WritebackService) -> dict[str, tuple[str | None, int | None, int]]:
    """(tone, steps, version) of each stored setting of `default`, by campaign."""
    t = copy_settings
    async with svc.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(t.c.campaign_id, t.c.tone, t.c.steps, t.c.version)
                                   .where(t.c.workspace == DEFAULT_WORKSPACE))).all()
    return {r.campaign_id: (r.tone, r.steps, r.version) for r in rows}


async def known(svc: WritebackService, kafka_bootstrap: str, topics: str,
                leads: dict[uuid.UUID, tuple[str, str | None]]) -> None:
    """Publishes each lead (email, campaign or None) with its push and waits until writeback knows every lead and
    link (its copy is then written from the lead's name and domain, whichever consumer runs first)."""
    await publish(kafka_bootstrap, topics, [lead_upserted(lead, email=email) for lead, (email, _) in leads.items()]
                  + [lead_pushed(lead, campaign, email) for lead, (email, campaign) in leads.items() if campaign])

    async def all_known() -> bool:
        async with svc.runtime.uow() as uow:
            rows = [await uow.repo.projection(lead, DEFAULT_WORKSPACE) for lead in leads]
        return all(r is not None and r["company_name"] == "Acme" and r["campaign_id"] == leads[lead][1]
                   for lead, r in zip(leads, rows, strict=True))

    await wait_until(all_known, timeout_s=30, what="the leads and their LeadPushed links")


async def completed(kafka_bootstrap: str, topics: str, expected: int) -> dict[str, dict[str, Any]]:
    records = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=expected,
                               timeout_s=30)
    assert len(records) == expected
    return {e.data["lead_id"]: e.data for e in (Envelope.model_validate_json(r.value) for r in records)}


async def test_each_lead_is_written_in_its_campaigns_tone_else_the_workspace_defaults(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    campaign, other = sim.campaigns["active"], sim.campaigns["operator"]  # 3 and 2 steps
    in_campaign, in_other, unlinked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    enrol(sim.state, sim.workspace_id, campaign, ["jo@campaign.test"])
    enrol(sim.state, sim.workspace_id, other, ["jo@other.test"])
    direct = build_variables(INPUTS, steps=3, tone=Tone.DIRECT)
    assert direct != build_variables(INPUTS, steps=3, tone=Tone.CONSULTATIVE)  # the tone shows in the copy
    async with run_service() as svc:
        await publish_copy_settings(kafka_bootstrap, topics, [
            copy_settings_changed(2, campaign_id=campaign, tone="direct"),
            copy_settings_changed(1, tone="friendly"),
            copy_settings_changed(1, campaign_id=campaign, tone="consultative", steps=4),  # older, published late
            copy_settings_changed(1, campaign_id="marker", tone="direct"),  # one partition: consumed after the rest
        ])

        async def marker_stored() -> bool:
            return "marker" in await stored_settings(svc)

        await wait_until(marker_stored, timeout_s=30, what="the copy settings")
        settings = await stored_settings(svc)
        assert settings[campaign] == ("direct", None, 2) and settings[""] == ("friendly", None, 1)

        await known(svc, kafka_bootstrap, topics, {in_campaign: ("jo@campaign.test", campaign),
                                                   in_other: ("jo@other.test", other),
                                                   unlinked: ("jo@unlinked.test", None)})
        await publish(kafka_bootstrap, topics, [audit_completed(lead) for lead in (in_campaign, in_other, unlinked)])
        events = await completed(kafka_bootstrap, topics, 3)

    received = sim_variables(sim.state, campaign, "jo@campaign.test")
    assert {k: received[k] for k in direct} == direct
    sent = events[str(in_campaign)]
    assert sent["tone"] == "direct" and sent["delivered"] is True and sent["variables"] == direct

    friendly = build_variables(INPUTS, steps=2, tone=Tone.FRIENDLY)
    received = sim_variables(sim.state, other, "jo@other.test")
    assert {k: received[k] for k in friendly} == friendly
    assert events[str(in_other)]["tone"] == "friendly" and events[str(in_other)]["variables"] == friendly

    kept = events[str(unlinked)]
    assert kept["delivered"] is False and kept["tone"] == "friendly" and kept["steps"] == 1
    assert kept["variables"] == build_variables(INPUTS, steps=1, tone=Tone.FRIENDLY)


async def test_a_step_count_setting_makes_that_many_steps_of_copy(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    campaign = sim.campaigns["active"]  # 3 steps in PlusVibe
    lead = uuid.uuid4()
    enrol(sim.state, sim.workspace_id, campaign, ["jo@campaign.test"])
    async with run_service() as svc:
        await publish_copy_settings(kafka_bootstrap, topics, [copy_settings_changed(1, campaign_id=campaign, steps=4)])

        async def stored() -> bool:
            return campaign in await stored_settings(svc)

        await wait_until(stored, timeout_s=30, what="the copy setting")
        await known(svc, kafka_bootstrap, topics, {lead: ("jo@campaign.test", campaign)})
        await publish(kafka_bootstrap, topics, [audit_completed(lead)])
        [sent] = (await completed(kafka_bootstrap, topics, 1)).values()

    expected = build_variables(INPUTS, steps=4, tone=Tone.CONSULTATIVE)  # no tone set anywhere: the built-in one
    assert set(expected) == set(PROFILE_KEYS) | set(body_keys(4))
    assert sent["steps"] == 4 and sent["tone"] == "consultative" and sent["variables"] == expected
    received = sim_variables(sim.state, campaign, "jo@campaign.test")
    assert {k: received[k] for k in expected} == expected


async def test_a_manual_writeback_uses_the_setting_leads_saw_at_the_press_not_the_one_writeback_holds(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    """The operator saves a tone and presses PlusVibe Writeback at once: the request carries the new setting, so the
    copy is in the new tone even though writeback has not received the CopySettingsChanged yet."""
    campaign = sim.campaigns["active"]
    lead = uuid.uuid4()
    enrol(sim.state, sim.workspace_id, campaign, ["jo@campaign.test"])
    async with run_service() as svc:
        await known(svc, kafka_bootstrap, topics, {lead: ("jo@campaign.test", campaign)})
        await publish(kafka_bootstrap, topics, [audit_completed(lead)])
        first = (await completed(kafka_bootstrap, topics, 1))[str(lead)]
        assert first["tone"] == "consultative"  # no setting stored anywhere
        await publish(kafka_bootstrap, topics, [writeback_requested(lead, campaign, tone="friendly", steps=2)])
        second = [e for e in (await completed(kafka_bootstrap, topics, 2)).values()]
    friendly = build_variables(INPUTS, steps=2, tone=Tone.FRIENDLY)
    assert [(e["tone"], e["steps"]) for e in second] == [("friendly", 2)]  # the newest per lead
    assert second[0]["variables"] == friendly
    received = sim_variables(sim.state, campaign, "jo@campaign.test")
    assert {k: received[k] for k in friendly} == friendly
