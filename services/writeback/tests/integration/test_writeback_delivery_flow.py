"""Linked and unlinked leads end to end: broker → consumers → simulator → outbox → topic; the status API."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from writeback_testkit import (
    ServiceRunner,
    audit_completed,
    enrol,
    lead_pushed,
    lead_upserted,
    publish,
    sim_variables,
    update_requests,
)

from contracts.envelope import Envelope
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.profile import PROFILE_KEYS, body_keys
from contracts.topics import WRITEBACK_COMPLETED
from plusvibe.testing import Sim
from servicekit.testing import Database, read_topic, wait_until
from servicekit.web.auth import hash_key
from writeback.entrypoints.http import create_app
from writeback.settings import WritebackSettings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
API_KEY = "writeback-reader-key"


async def test_linked_lead_gets_every_variable_in_plusvibe_and_unlinked_lead_is_announced_undelivered(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    campaign = sim.campaigns["active"]  # 3 steps
    linked, unlinked = uuid.uuid4(), uuid.uuid4()
    enrol(sim.state, sim.workspace_id, campaign, ["owner@linked.test"])
    keys = json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["writeback:read"]},
                       {"name": "o", "sha256": hash_key("leads-only-key"), "scopes": ["leads:read"]}])
    async with run_service(api_keys_json=keys) as svc:
        await publish(kafka_bootstrap, topics, [
            lead_upserted(linked, email="owner@linked.test"), lead_upserted(unlinked, email="x@unlinked.test"),
            lead_pushed(linked, campaign, "owner@linked.test"),
        ])

        async def linked_in_projection() -> bool:
            async with svc.runtime.uow() as uow:
                row = await uow.repo.projection(linked, DEFAULT_WORKSPACE)
            return row is not None and row["campaign_id"] == campaign

        await wait_until(linked_in_projection, timeout_s=30, what="the LeadPushed link")
        await publish(kafka_bootstrap, topics, [audit_completed(linked), audit_completed(unlinked)])
        records = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=2, timeout_s=30)
        events = {e.data["lead_id"]: e.data for e in (Envelope.model_validate_json(r.value) for r in records)}
        assert len(records) == 2

        sent = events[str(linked)]
        assert sent["delivered"] is True and sent["campaign_id"] == campaign and sent["steps"] == 3
        assert set(sent["variables"]) == set(PROFILE_KEYS) | set(body_keys(3))
        assert {k: v for k, v in sim_variables(sim.state, campaign, "owner@linked.test").items()
                if k in sent["variables"]} == sent["variables"]

        kept = events[str(unlinked)]
        assert kept["delivered"] is False and kept["steps"] == 1
        assert set(kept["variables"]) == set(PROFILE_KEYS) | set(body_keys(1))
        assert len(update_requests(sim.state)) == 1

        app = create_app(service=svc)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
            assert (await http.get(f"/api/writeback/leads/{linked}")).status_code == 401
            other = await http.get(f"/api/writeback/leads/{linked}", headers={"X-API-Key": "leads-only-key"})
            assert other.status_code == 403
            body = (await http.get(f"/api/writeback/leads/{linked}", headers={"X-API-Key": API_KEY})).json()
            assert body["delivered"] is True and body["error"] is None
            assert set(body["payloadKeys"]) == set(sent["variables"])
            assert body["lastAttempt"]["status"] == "delivered" and body["lastAttempt"]["attempts"] == 1
            body = (await http.get(f"/api/writeback/leads/{unlinked}", headers={"X-API-Key": API_KEY})).json()
            assert body["delivered"] is False and body["lastAttempt"]["status"] == "unlinked"
            missing = await http.get(f"/api/writeback/leads/{uuid.uuid4()}", headers={"X-API-Key": API_KEY})
            assert missing.status_code == 404 and missing.json()["reason"] == "lead_not_found"


async def test_the_api_process_with_embedded_workers_consumes_and_reports_a_writeback(
    pg_database: Database, kafka_bootstrap: str, topics: str, sim: Sim
) -> None:
    keys = json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["writeback:read"]}])
    settings = WritebackSettings(database_url=pg_database.url, db_schema=pg_database.schema,  # type: ignore[arg-type]
                                 kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topics, api_keys_json=keys)
    app = create_app(settings, embedded_workers=True, plusvibe_settings=sim.settings())
    lead = uuid.uuid4()
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as http:
        await publish(kafka_bootstrap, topics, [audit_completed(lead)])

        async def reported() -> bool:
            answer = await http.get(f"/api/writeback/leads/{lead}", headers={"X-API-Key": API_KEY})
            return answer.status_code == 200

        await wait_until(reported, timeout_s=30, interval_s=0.2, what="the writeback status")
        body = (await http.get(f"/api/writeback/leads/{lead}", headers={"X-API-Key": API_KEY})).json()
        assert body["delivered"] is False and len(body["payloadKeys"]) == 24
        records = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=1, timeout_s=15)
        assert len(records) == 1  # the embedded relay published it
