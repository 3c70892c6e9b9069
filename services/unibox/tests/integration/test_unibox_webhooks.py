"""Webhooks on the real broker and PostgreSQL: verified by the shared secret, stored raw first, a redelivered
event emitted once, the email mapped to a lead through the LeadUpserted projection (fed by the consumer)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from unibox_testkit import WEBHOOK_SECRET, enrol, settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.leads import LeadUpserted
from contracts.status import LeadStatus
from contracts.topics import EMAIL_ACTIVITY_RECEIVED, LEAD_UPSERTED
from outreach_ops.topic_admin import ensure_topics
from plusvibe.client import PlusVibeClient
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.state import SimulatorState
from plusvibe.simulator.webhooks import SECRET_HEADER
from plusvibe.testing import Sim
from servicekit.messaging.events import encode, headers_for, kafka_headers, new_envelope
from servicekit.testing import Database, publish_raw, read_topic
from unibox.bootstrap import UniboxService

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
HOOK = "/api/plusvibe/webhooks"


def sim_payloads() -> dict[str, dict[str, Any]]:
    """Real simulator webhook payloads (EMAIL_SENT, replies, label) for one lead, without a receiver."""
    state = SimulatorState()
    seeded = state.seed("demo")
    sim = Sim("http://127.0.0.1:9/api/v1", state, seeded["workspace_id"], seeded["campaigns"])
    state.api_hook_add({"workspace_id": sim.workspace_id, "url": "http://127.0.0.1:9/hook",
                        "event_types": ["EMAIL_SENT", "ALL_EMAIL_REPLIES", "LEAD_MARKED_AS_INTERESTED",
                                        "BOUNCED_EMAIL"]})
    enrol(sim, "ana@example.test")
    state.tick()
    state.inject_reply("ana@example.test", "Yes please", label="INTERESTED")
    return {d.payload["webhook_event"]: d.payload for d in state.deliveries}


async def wait_for_lead(service: UniboxService, email: str, timeout_s: float = 30.0) -> uuid.UUID:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        async with service.uow() as uow:
            lead = await uow.leads.find(DEFAULT_WORKSPACE, email)
        if lead is not None:
            return lead.lead_id
        await asyncio.sleep(0.1)
    raise AssertionError("the LeadUpserted projection never got the lead")


async def test_a_redelivered_webhook_is_stored_once_and_emitted_once_for_the_projected_lead(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str, running_app: Any
) -> None:
    await ensure_topics(kafka_bootstrap, [LEAD_UPSERTED, EMAIL_ACTIVITY_RECEIVED], prefix=topic_prefix)
    payloads = sim_payloads()
    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    upserted = new_envelope(LeadUpserted(lead_id=lead_id, lead=LeadSnapshot(
        lead_id=lead_id, version=3, contact=Contact(email="Ana@Example.test"), status=LeadStatus.EMAIL_GENERATED,
        campaign_id=payloads["EMAIL_SENT"]["campaign_id"], created_at=now, updated_at=now)))
    await publish_raw(kafka_bootstrap, f"{topic_prefix}{LEAD_UPSERTED.name}",
                      [(str(lead_id).encode(), encode(upserted), kafka_headers(headers_for(upserted)))])
    settings = settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    unused = PlusVibeClient(PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="x", workspace_id="w"))
    async with running_app(settings, plusvibe=unused, embedded_workers=True) as (_, http, service):
        assert await wait_for_lead(service, "ana@example.test") == lead_id
        good = {SECRET_HEADER: WEBHOOK_SECRET}

        wrong = await http.post(HOOK, json=payloads["EMAIL_SENT"], headers={SECRET_HEADER: "not-the-secret"})
        missing = await http.post(HOOK, json=payloads["EMAIL_SENT"])
        async with service.uow() as uow:
            assert await uow.webhooks.count() == 0  # nothing stored for an unverified delivery
        assert [wrong.status_code, missing.status_code] == [401, 401]
        assert wrong.json()["reason"] == "webhook_secret_invalid"

        sent = [await http.post(HOOK, json=payloads["EMAIL_SENT"], headers=good) for _ in range(3)]
        assert [r.status_code for r in sent] == [200, 200, 200]
        assert [r.json()["duplicate"] for r in sent] == [False, True, True]
        assert len({r.json()["webhookId"] for r in sent}) == 1

        replied = await http.post(HOOK, content=json.dumps(payloads["ALL_EMAIL_REPLIES"]),
                                  headers={**good, "content-type": "application/json"})
        unknown = await http.post(HOOK, json={"webhook_event": "BRAND_NEW_EVENT", "email": "ana@example.test"},
                                  headers=good)
        alert = await http.post(HOOK, json={"webhook_event": "SYSTEM_ALERT", "alert": "CAMPAIGN_AUTO_PAUSED",
                                            "campaign_id": "c1"}, headers=good)
        not_json = await http.post(HOOK, content=b"<html>", headers=good)
        assert [replied.status_code, unknown.status_code, alert.status_code] == [200, 200, 200]
        assert (not_json.status_code, not_json.json()["reason"]) == (400, "invalid_payload")
        async with service.uow() as uow:
            assert await uow.webhooks.count() == 4

        records = await read_topic(kafka_bootstrap, f"{topic_prefix}{EMAIL_ACTIVITY_RECEIVED.name}", expected=5,
                                   timeout_s=4)
    events = [json.loads(r.value) for r in records]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_name.setdefault(e["data"]["webhook_event"], []).append(e)
    assert sorted((k, len(v)) for k, v in by_name.items()) == [
        ("ALL_EMAIL_REPLIES", 1), ("BRAND_NEW_EVENT", 1), ("EMAIL_SENT", 1), ("SYSTEM_ALERT", 1)]
    sent_event = by_name["EMAIL_SENT"][0]
    assert sent_event["lead_id"] == str(lead_id)
    assert sent_event["data"]["activity"] == "sent"
    assert sent_event["data"]["raw_payload"] == payloads["EMAIL_SENT"]
    assert sent_event["data"]["subject"] == "Your website"
    assert sent_event["data"]["observed_at"]
    reply_event = by_name["ALL_EMAIL_REPLIES"][0]["data"]
    assert (reply_event["activity"], reply_event["label"], reply_event["sentiment"]) == (
        "replied", "INTERESTED", "POSITIVE")
    assert reply_event["subject"] == "Re: Your website"
    assert by_name["BRAND_NEW_EVENT"][0]["data"]["activity"] == "other"
    system = by_name["SYSTEM_ALERT"][0]["data"]
    assert (system["activity"], system["alert"], system["lead_id"]) == ("system_alert", "CAMPAIGN_AUTO_PAUSED", None)
    keyed = {r.key for r in records if json.loads(r.value)["data"]["webhook_event"] == "EMAIL_SENT"}
    assert keyed == {str(lead_id).encode()}
