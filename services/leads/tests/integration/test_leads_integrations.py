"""Integrations through the leads API, against the PlusVibe simulator over real HTTP, real PostgreSQL and Kafka:
connect a key (checked with `/authenticate`, stored only sealed, announced sealed), see the key's workspaces, test
the connection, disconnect. Every bad input stores nothing; the key never comes back, in clear, anywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from leads_testkit import API_KEY
from pydantic import SecretStr
from sqlalchemy import text

from contracts import topics
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import ALL_TOPICS
from leads.bootstrap import LeadsService, bootstrap
from leads.domain.refusals import Refusal
from leads.entrypoints.http import create_app
from leads.handlers.plusvibe_integration import reseal
from leads.settings import LeadsSettings
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credentials import KeyRing, SealError, new_kek
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim
from servicekit.testing import Database
from servicekit.web.auth import hash_key

pytestmark = pytest.mark.integration
KEY = "pv-live-integration-key-7Q2w"  # a key the simulator accepts (added per test)
OTHER_KEY = "pv-live-integration-key-9Zx4"


@dataclass
class Api:
    client: httpx.AsyncClient
    service: LeadsService
    sim: Sim
    kek: str
    prefix: str
    bootstrap_servers: str

    async def stored(self) -> dict[str, Any] | None:
        async with self.service.runtime.uow() as uow:
            row = (await uow.session.execute(text("SELECT * FROM plusvibe_integrations"))).mappings().first()
            return dict(row) if row else None

    async def outbox_events(self) -> list[dict[str, Any]]:
        async with self.service.runtime.uow() as uow:
            rows = (await uow.session.execute(text(
                "SELECT payload FROM outbox WHERE event_type = 'PlusVibeIntegrationChanged'"))).all()
        return [json.loads(r[0]) if isinstance(r[0], str | bytes) else r[0] for r in rows]


async def _api(pg_database: Database, kafka_bootstrap: str, prefix: str, sim: Sim, *, kek: str,
               env_key: bool = False, webhook_base_url: str = "") -> AsyncIterator[Api]:
    await ensure_topics(kafka_bootstrap, ALL_TOPICS, prefix=prefix)
    sim.state.api_keys.update({KEY, OTHER_KEY})
    settings = LeadsSettings(
        database_url=pg_database.url, db_schema=pg_database.schema, kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=prefix, rate_limit_per_s=0, integration_ttl_s=60.0, webhook_base_url=webhook_base_url,
        outbox_keep_sent_s=86_400,  # the tests read the outbox as what was announced: published rows are kept
        api_keys_json=json.dumps([{"name": "tester", "sha256": hash_key(API_KEY), "scopes": ["*"]}]))
    env = {} if env_key else {"api_key": SecretStr(""), "workspace_id": ""}
    service = bootstrap(settings, plusvibe_settings=sim.settings(kek=SecretStr(kek), **env))
    app = create_app(service=service, embedded_workers=True)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://leads", headers={"X-API-Key": API_KEY}
    ) as client:
        yield Api(client, service, sim, kek, prefix, kafka_bootstrap)
    sim.state.faults.clear()


@pytest.fixture
async def api(pg_database: Database, kafka_bootstrap: str, module_topic_prefix: str, sim: Sim) -> AsyncIterator[Api]:
    async for a in _api(pg_database, kafka_bootstrap, module_topic_prefix, sim, kek=new_kek()):
        yield a


def _no_key_in(api: Api, *texts: str) -> None:
    for t in texts:
        assert KEY not in t and OTHER_KEY not in t


async def test_nothing_connected_says_so_and_refuses_plusvibe_calls(api: Api) -> None:
    status = (await api.client.get("/api/integrations/plusvibe")).json()
    assert (status["source"], status["connected"], status["keyMasked"]) == ("none", False, "")
    r = await api.client.get("/api/plusvibe/campaigns")
    assert (r.status_code, r.json()["reason"]) == (503, "plusvibe_not_configured")
    r = await api.client.post("/api/integrations/plusvibe/test")
    assert (r.status_code, r.json()["reason"]) == (409, "plusvibe_not_connected")


async def test_a_key_lists_its_workspaces_and_stores_nothing(api: Api) -> None:
    r = await api.client.post("/api/integrations/plusvibe/workspaces", json={"apiKey": KEY})
    assert r.status_code == 200, r.text
    assert api.sim.workspace_id in {w["id"] for w in r.json()}
    _no_key_in(api, r.text)
    assert await api.stored() is None


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"apiKey": ""}, 422, "invalid_request"),
    ({"apiKey": "short"}, 422, "invalid_request"),
    ({"apiKey": "pv key with spaces inside"}, 422, "invalid_request"),
    ({"apiKey": "pv-key-with-newline\n"}, 422, "invalid_request"),
    ({"apiKey": "x" * 201}, 422, "invalid_request"),
    ({}, 422, "invalid_request"),
    ({"apiKey": "pv-a-key-plusvibe-does-not-know"}, 400, "plusvibe_key_rejected"),
])
async def test_bad_keys_are_refused_with_a_reason_and_nothing_is_stored(api: Api, body: dict[str, Any], status: int,
                                                                        reason: str) -> None:
    for call in (api.client.post("/api/integrations/plusvibe/workspaces", json=body),
                 api.client.put("/api/integrations/plusvibe", json={**body, "workspaceId": api.sim.workspace_id})):
        r = await call
        assert (r.status_code, r.json()["reason"]) == (status, reason), r.text
        if body.get("apiKey"):
            assert body["apiKey"] not in r.text
    assert await api.stored() is None
    assert await api.outbox_events() == []


async def test_connecting_seals_the_key_shows_it_masked_and_announces_it_sealed(api: Api) -> None:
    r = await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["source"], view["connected"], view["plusvibeWorkspaceId"], view["keyMasked"], view["version"]) == (
        "integration", True, api.sim.workspace_id, "…" + KEY[-4:], 1)
    assert view["verifiedAt"] and view["lastError"] is None
    assert (view["webhookStatus"], view["webhookUrl"]) == ("not_configured", "")  # no LEADS_WEBHOOK_BASE_URL here
    _no_key_in(api, r.text, (await api.client.get("/api/integrations/plusvibe")).text)

    row = await api.stored()
    assert row is not None and row["connected"] and KEY not in json.dumps(row, default=str)
    assert KeyRing([api.kek]).open(row["sealed_api_key"], context=DEFAULT_WORKSPACE).get_secret_value() == KEY

    # The services' calls now use the connected key: PlusVibe answers with the workspace's campaigns.
    r = await api.client.get("/api/plusvibe/campaigns")
    assert r.status_code == 200, r.text
    assert {c["id"] for c in r.json()} == {c["id"] for c in api.sim.state.campaigns.values()
                                            if c["workspace_id"] == api.sim.workspace_id}

    # The event, in the outbox and on the real broker, carries the key sealed and bound to the workspace.
    events = await api.outbox_events()
    assert len(events) == 1
    data = events[0]["data"]
    assert (data["workspace"], data["connected"], data["version"]) == (DEFAULT_WORKSPACE, True, 1)
    _no_key_in(api, json.dumps(events))
    record = await _record_of(api, events[0]["event_id"])
    assert KEY.encode() not in record and data["sealed_api_key"].encode() in record
    with pytest.raises(SealError, match="another context"):
        KeyRing([api.kek]).open(data["sealed_api_key"], context="another-workspace")


async def test_connecting_again_with_the_same_key_only_reverifies(api: Api) -> None:
    body = {"apiKey": KEY, "workspaceId": api.sim.workspace_id}
    first = (await api.client.put("/api/integrations/plusvibe", json=body)).json()
    again = (await api.client.put("/api/integrations/plusvibe", json=body)).json()
    assert (first["version"], again["version"]) == (1, 1)
    assert again["verifiedAt"] >= first["verifiedAt"]
    assert len(await api.outbox_events()) == 1


async def test_a_workspace_the_key_cannot_reach_is_refused_with_the_keys_workspaces(api: Api) -> None:
    r = await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": "ws-not-on-key"})
    assert (r.status_code, r.json()["reason"]) == (422, "plusvibe_workspace_not_on_key")
    assert api.sim.workspace_id in {w["id"] for w in r.json()["workspaces"]}
    assert await api.stored() is None


@pytest.mark.parametrize(("fault", "status", "reason"), [
    ({"status": 503, "times": None}, 502, "plusvibe_unreachable"),
    ({"drop": "before", "times": None}, 502, "plusvibe_unreachable"),
    ({"status": 429, "retry_after": "120", "times": None}, 429, "plusvibe_rate_limited"),
])
async def test_plusvibe_failing_while_connecting_is_a_clear_error_and_nothing_is_written(
        api: Api, fault: dict[str, Any], status: int, reason: str) -> None:
    api.sim.state.faults.add(FaultRule(path="/api/v1/authenticate", **fault))
    r = await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    assert (r.status_code, r.json()["reason"]) == (status, reason), r.text
    assert await api.stored() is None
    assert await api.outbox_events() == []


async def test_test_connection_records_when_it_was_verified_and_the_last_error(api: Api) -> None:
    body = {"apiKey": OTHER_KEY, "workspaceId": api.sim.workspace_id}
    connected = (await api.client.put("/api/integrations/plusvibe", json=body)).json()
    api.sim.state.api_keys.discard(OTHER_KEY)  # the operator revoked the key in PlusVibe
    failed = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert (failed["lastError"], failed["verifiedAt"], failed["connected"]) == (
        "key rejected", connected["verifiedAt"], True)
    assert failed["lastErrorAt"]
    api.sim.state.api_keys.add(OTHER_KEY)
    ok = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert ok["lastError"] is None and ok["verifiedAt"] > connected["verifiedAt"]
    assert ok["version"] == 1  # a test changes no credentials: nothing is announced
    assert len(await api.outbox_events()) == 1


async def test_disconnecting_stops_every_call_and_is_announced(api: Api) -> None:
    await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    r = await api.client.delete("/api/integrations/plusvibe")
    assert r.status_code == 200
    assert (r.json()["connected"], r.json()["keyMasked"], r.json()["version"]) == (False, "", 2)
    row = await api.stored()
    assert row is not None and row["sealed_api_key"] == "" and not row["connected"]
    r = await api.client.get("/api/plusvibe/campaigns")
    assert (r.status_code, r.json()["reason"]) == (503, "plusvibe_not_configured")
    events = [e["data"] for e in await api.outbox_events()]
    assert [(e["version"], e["connected"]) for e in sorted(events, key=lambda e: e["version"])] == [(1, True),
                                                                                                (2, False)]
    again = await api.client.delete("/api/integrations/plusvibe")
    assert again.json()["version"] == 2 and len(await api.outbox_events()) == 2  # idempotent


async def test_concurrent_connects_apply_one_after_the_other(api: Api) -> None:
    bodies = [{"apiKey": k, "workspaceId": api.sim.workspace_id} for k in (KEY, OTHER_KEY)]
    answers = await asyncio.gather(*(api.client.put("/api/integrations/plusvibe", json=b) for b in bodies))
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.json()["version"] for a in answers) == [1, 2]
    row = await api.stored()
    events = sorted((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    assert row is not None and row["version"] == 2 and len(events) == 2
    assert row["key_fingerprint"] == events[-1]["key_fingerprint"]  # the row is the newest announcement


async def test_a_disconnect_wins_over_the_environment_key(pg_database: Database, kafka_bootstrap: str,
                                                          module_topic_prefix: str, sim: Sim) -> None:
    async for api in _api(pg_database, kafka_bootstrap, module_topic_prefix, sim, kek=new_kek(), env_key=True):
        status = (await api.client.get("/api/integrations/plusvibe")).json()
        assert (status["source"], status["connected"]) == ("environment", True)
        assert (await api.client.get("/api/plusvibe/campaigns")).status_code == 200
        tested = (await api.client.post("/api/integrations/plusvibe/test")).json()
        assert tested["source"] == "environment" and tested["lastError"] is None
        await api.client.delete("/api/integrations/plusvibe")
        r = await api.client.get("/api/plusvibe/campaigns")
        assert (r.status_code, r.json()["reason"]) == (503, "plusvibe_not_configured")


async def test_without_a_kek_no_key_is_stored(pg_database: Database, kafka_bootstrap: str, module_topic_prefix: str,
                                              sim: Sim) -> None:
    async for api in _api(pg_database, kafka_bootstrap, module_topic_prefix, sim, kek=""):
        r = await api.client.put("/api/integrations/plusvibe",
                                 json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
        assert (r.status_code, r.json()["reason"]) == (503, "integrations_unavailable")
        assert await api.stored() is None


async def _record_of(api: Api, event_id: str, timeout_s: float = 20.0) -> bytes:
    """The record of one event on the integration topic (the relay publishes it from the outbox)."""
    consumer = AIOKafkaConsumer(f"{api.prefix}{topics.PLUSVIBE_INTEGRATION_CHANGED.name}",
                                bootstrap_servers=api.bootstrap_servers, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.value and event_id.encode() in r.value:
                        return r.value
    finally:
        await consumer.stop()
    raise AssertionError(f"event {event_id} never reached the topic")


async def test_kek_rotation_reseals_the_stored_key_and_announces_it(api: Api) -> None:
    await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    new = new_kek()
    rotating = KeyRing.from_setting(f"{new},{api.kek}")
    assert await reseal(api.service.runtime.uow, keyring=rotating, workspace=DEFAULT_WORKSPACE, now=datetime.now(UTC))
    row = await api.stored()
    assert row is not None and row["version"] == 2
    assert KeyRing([new]).open(row["sealed_api_key"], context=DEFAULT_WORKSPACE).get_secret_value() == KEY
    events = sorted((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    assert [e["version"] for e in events] == [1, 2] and events[-1]["sealed_api_key"] == row["sealed_api_key"]
    with pytest.raises(Refusal) as refused:
        await reseal(api.service.runtime.uow, keyring=KeyRing([new_kek()]), workspace=DEFAULT_WORKSPACE,
                     now=datetime.now(UTC))
    assert refused.value.reason == "integration_key_unreadable"


async def test_connecting_the_same_key_again_reseals_a_token_the_kek_no_longer_opens(api: Api) -> None:
    body = {"apiKey": KEY, "workspaceId": api.sim.workspace_id}
    await api.client.put("/api/integrations/plusvibe", json=body)
    lost = KeyRing([new_kek()]).seal(KEY, context=DEFAULT_WORKSPACE)  # as if sealed under a KEK since dropped
    async with api.service.runtime.uow() as uow:
        await uow.session.execute(text("UPDATE plusvibe_integrations SET sealed_api_key = :t"), {"t": lost})
        await uow.commit()
    again = await api.client.put("/api/integrations/plusvibe", json=body)
    assert again.status_code == 200 and again.json()["version"] == 2, again.text
    row = await api.stored()
    assert row is not None
    assert KeyRing([api.kek]).open(row["sealed_api_key"], context=DEFAULT_WORKSPACE).get_secret_value() == KEY
    assert len(await api.outbox_events()) == 2  # the resealed key announced, so every service's copy opens too
