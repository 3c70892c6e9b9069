"""Integrations register the workspace's PlusVibe webhook, against the simulator over real HTTP and real
PostgreSQL: connecting adds one hook (the deployment's public URL + the workspace, every event the platform reads,
a per-workspace secret announced only sealed); connecting again, a key change, a crash's leftovers and concurrent
connects all leave exactly one; a move to another PlusVibe workspace and a disconnect remove it; a PlusVibe error
while registering stores nothing; Test connection repairs a hook deleted by hand. The simulator's hook table is the
judge: these tests read PlusVibe's state, not the service's account of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from test_leads_integrations import KEY, OTHER_KEY, Api, _api

from contracts.integrations import DEFAULT_WORKSPACE, webhook_secret_context
from leads.domain.webhook_plan import hook_name
from plusvibe.credentials import KeyRing, SealError, new_kek
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim
from servicekit.testing import Database

pytestmark = pytest.mark.integration
BASE = "http://127.0.0.1:8080"
URL = f"{BASE}/api/plusvibe/webhooks/{DEFAULT_WORKSPACE}"
NAME = hook_name(DEFAULT_WORKSPACE, BASE)
STAGING = "http://127.0.0.1:8090"  # another deployment of the platform, connected to the same PlusVibe workspace
EVENTS = {"EMAIL_SENT", "FIRST_EMAIL_REPLIES", "ALL_EMAIL_REPLIES", "ALL_POSITIVE_REPLIES", "BOUNCED_EMAIL",
          "LEAD_MARKED_AS_INTERESTED", "LEAD_MARKED_AS_NOT_INTERESTED", "LEAD_MARKED_AS_MEETING_BOOKED",
          "LEAD_MARKED_AS_OUT_OF_OFFICE", "LEAD_MARKED_AS_WRONG_PERSON", "LEAD_MARKED_AS_CLOSED", "SYSTEM_ALERT"}


@pytest.fixture
async def api(pg_database: Database, kafka_bootstrap: str, module_topic_prefix: str, sim: Sim) -> AsyncIterator[Api]:
    async for a in _api(pg_database, kafka_bootstrap, module_topic_prefix, sim, kek=new_kek(), webhook_base_url=BASE):
        yield a


def hooks(api: Api, workspace_id: str | None = None) -> list[dict[str, Any]]:
    """The simulator's hooks in a PlusVibe workspace (the demo one by default)."""
    wid = workspace_id or api.sim.workspace_id
    return [dict(h) for h in api.sim.state.hooks.values() if h["workspace_id"] == wid]


async def secret_of(api: Api) -> str:
    row = await api.stored()
    assert row is not None and row["sealed_webhook_secret"]
    return KeyRing([api.kek]).open(row["sealed_webhook_secret"],
                                   context=webhook_secret_context(DEFAULT_WORKSPACE)).get_secret_value()


async def connect(api: Api, key: str = KEY, workspace_id: str | None = None) -> dict[str, Any]:
    r = await api.client.put("/api/integrations/plusvibe",
                             json={"apiKey": key, "workspaceId": workspace_id or api.sim.workspace_id})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def assert_one_serving_hook(api: Api, workspace_id: str | None = None) -> dict[str, Any]:
    mine = [h for h in hooks(api, workspace_id) if h["name"] == NAME]
    assert len(mine) == 1, mine
    hook = mine[0]
    assert (hook["url"], set(hook["evt_types"]), hook["camp_ids"], hook["status"]) == (URL, EVENTS, ["ALL"], "ACTIVE")
    assert {"CAMPAIGN_AUTO_PAUSED", "EMAIL_ACCOUNT_DISCONNECTED"} <= set(hook["alerts"])  # the system alerts it takes
    assert hook["secret"] == await secret_of(api)
    row = await api.stored()
    assert row is not None and row["webhook_id"] == hook["_id"]
    return hook


async def test_connecting_registers_one_hook_with_a_sealed_per_workspace_secret(api: Api) -> None:
    view = await connect(api)
    hook = await assert_one_serving_hook(api)
    assert (view["webhookStatus"], view["webhookUrl"], view["version"]) == ("registered", URL, 1)
    assert view["webhookRegisteredAt"] and view["webhookError"] is None
    secret = hook["secret"]
    assert secret not in str(view) and secret not in (await api.client.get("/api/integrations/plusvibe")).text
    # The event carries the secret sealed, bound to its own context (it never opens as the workspace's API key).
    (event,) = [e["data"] for e in await api.outbox_events()]
    sealed = event["sealed_webhook_secret"]
    assert secret not in str(event)
    assert KeyRing([api.kek]).open(sealed, context=webhook_secret_context(DEFAULT_WORKSPACE)).get_secret_value() \
        == secret
    with pytest.raises(SealError):
        KeyRing([api.kek]).open(sealed, context=DEFAULT_WORKSPACE)


async def test_connecting_again_or_with_a_new_key_keeps_the_one_hook(api: Api) -> None:
    assert hooks(api) == []
    await connect(api)
    hook = await assert_one_serving_hook(api)
    again = await connect(api)
    assert again["version"] == 1 and (await assert_one_serving_hook(api))["_id"] == hook["_id"]
    rotated = await connect(api, OTHER_KEY)  # the account's key rotated: hooks belong to the PlusVibe workspace
    assert rotated["version"] == 2 and (await assert_one_serving_hook(api))["_id"] == hook["_id"]
    events = sorted((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    assert events[0]["sealed_webhook_secret"] == events[1]["sealed_webhook_secret"]  # the secret outlives the key


async def test_hooks_left_by_a_crash_or_an_old_url_are_removed_and_others_untouched(api: Api) -> None:
    add = api.sim.state.api_hook_add
    wid = api.sim.workspace_id
    add({"workspace_id": wid, "name": NAME, "url": URL, "event_types": sorted(EVENTS), "secret": "lost-secret"})
    add({"workspace_id": wid, "name": NAME, "url": "http://127.0.0.1:9999/api/plusvibe/webhooks/default",
         "event_types": sorted(EVENTS)})
    foreign = add({"workspace_id": wid, "name": "the client's own zap", "url": "http://127.0.0.1:7/zap",
                   "event_types": ["EMAIL_SENT"]})["_id"]
    await connect(api)
    await assert_one_serving_hook(api)
    assert foreign in {h["_id"] for h in hooks(api)} and len(hooks(api)) == 2


async def test_an_add_whose_answer_was_lost_leaves_one_hook(api: Api) -> None:
    # PlusVibe creates the hook, then the connection drops: the client retries, or the connect fails and the next
    # one cleans up. Either way one hook remains, with the stored secret.
    api.sim.state.faults.add(FaultRule(path="/api/v1/hook/add", drop="after", times=1))
    r = await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    if r.status_code != 200:
        assert (r.status_code, r.json()["reason"]) == (502, "plusvibe_unreachable"), r.text
        assert await api.stored() is None or not (await api.stored() or {}).get("connected")
        await connect(api)
    await assert_one_serving_hook(api)


@pytest.mark.parametrize(("path", "fault", "status", "reason"), [
    ("/api/v1/hook/add", {"status": 503, "times": None}, 502, "plusvibe_unreachable"),
    ("/api/v1/hook/list", {"drop": "before", "times": None}, 502, "plusvibe_unreachable"),
    ("/api/v1/hook/add", {"status": 401, "times": None}, 400, "plusvibe_key_rejected"),
])
async def test_a_registration_error_refuses_the_connect_and_stores_nothing(
        api: Api, path: str, fault: dict[str, Any], status: int, reason: str) -> None:
    api.sim.state.faults.add(FaultRule(path=path, **fault))
    r = await api.client.put("/api/integrations/plusvibe", json={"apiKey": KEY, "workspaceId": api.sim.workspace_id})
    assert (r.status_code, r.json()["reason"]) == (status, reason), r.text
    assert "webhook could not be registered" in r.json()["message"]
    row = await api.stored()
    assert row is None or (not row["connected"] and row["version"] == 0)
    assert await api.outbox_events() == []
    api.sim.state.faults.clear()
    await connect(api)
    await assert_one_serving_hook(api)


async def test_concurrent_connects_leave_one_hook_and_announce_each_change_in_order(api: Api) -> None:
    bodies = [{"apiKey": k, "workspaceId": api.sim.workspace_id} for k in (KEY, OTHER_KEY, KEY, OTHER_KEY)]
    answers = await asyncio.gather(*(api.client.put("/api/integrations/plusvibe", json=b) for b in bodies))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    await assert_one_serving_hook(api)
    events = sorted((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    row = await api.stored()
    assert row is not None
    # Applied one after the other: every change announced once, in order, the last one being what is stored.
    assert [e["version"] for e in events] == list(range(1, row["version"] + 1))
    assert events[-1]["sealed_webhook_secret"] == row["sealed_webhook_secret"]
    assert events[-1]["key_fingerprint"] == row["key_fingerprint"]


async def test_moving_to_another_plusvibe_workspace_moves_the_hook_with_a_new_secret(api: Api) -> None:
    other = api.sim.state.add_workspace("Client B")
    await connect(api)
    before = await secret_of(api)
    await connect(api, workspace_id=other)
    moved = await assert_one_serving_hook(api, other)
    assert [h for h in hooks(api) if h["name"] == NAME] == []
    # A new secret, announced: a hook left behind in the old workspace could deliver nothing unibox accepts.
    assert moved["secret"] != before
    newest = max((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    assert KeyRing([api.kek]).open(newest["sealed_webhook_secret"], context=webhook_secret_context(
        DEFAULT_WORKSPACE)).get_secret_value() == moved["secret"]


async def test_a_move_whose_old_key_was_revoked_names_the_hook_left_behind(api: Api) -> None:
    other = api.sim.state.add_workspace("Client B")
    await connect(api, OTHER_KEY)
    left = await assert_one_serving_hook(api)
    api.sim.state.api_keys.discard(OTHER_KEY)
    view = await connect(api, KEY, workspace_id=other)
    await assert_one_serving_hook(api, other)
    assert left["_id"] in view["webhookError"] and "key rejected" in view["webhookError"]
    assert left["secret"] != await secret_of(api)  # what it still delivers is refused by unibox


async def test_another_deployments_hook_in_the_same_workspace_is_never_touched(api: Api) -> None:
    staging = api.sim.state.api_hook_add({
        "workspace_id": api.sim.workspace_id, "name": hook_name(DEFAULT_WORKSPACE, STAGING),
        "url": f"{STAGING}/api/plusvibe/webhooks/default", "event_types": sorted(EVENTS), "secret": "staging"})["_id"]
    await connect(api)
    await assert_one_serving_hook(api)
    (await api.client.post("/api/integrations/plusvibe/test")).raise_for_status()
    (await api.client.delete("/api/integrations/plusvibe")).raise_for_status()
    assert [h["_id"] for h in hooks(api)] == [staging]


async def test_disconnecting_removes_the_hook(api: Api) -> None:
    await connect(api)
    r = await api.client.delete("/api/integrations/plusvibe")
    assert r.status_code == 200 and r.json()["webhookStatus"] == "not_registered" and r.json()["webhookError"] is None
    assert hooks(api) == []
    row = await api.stored()
    assert row is not None and (row["sealed_webhook_secret"], row["webhook_id"]) == ("", "")
    (last,) = [e["data"] for e in await api.outbox_events() if not e["data"]["connected"]]
    assert last["sealed_webhook_secret"] == ""  # unibox forgets the secret: the workspace's deliveries are refused


async def test_a_disconnect_with_a_revoked_key_still_disconnects_and_names_the_hook_to_delete(api: Api) -> None:
    await connect(api, OTHER_KEY)
    hook = await assert_one_serving_hook(api)
    api.sim.state.api_keys.discard(OTHER_KEY)
    r = await api.client.delete("/api/integrations/plusvibe")
    assert r.status_code == 200 and r.json()["connected"] is False
    assert "key rejected" in r.json()["webhookError"] and hook["_id"] in r.json()["webhookError"]
    assert [h["_id"] for h in hooks(api)] == [hook["_id"]]  # still in PlusVibe: the operator deletes it there


async def test_a_disconnect_whose_key_no_longer_opens_names_the_hook_to_delete(api: Api) -> None:
    await connect(api)
    hook = await assert_one_serving_hook(api)
    lost = KeyRing([new_kek()]).seal(KEY, context=DEFAULT_WORKSPACE)  # as if sealed under a KEK since dropped
    async with api.service.runtime.uow() as uow:
        await uow.session.execute(text("UPDATE plusvibe_integrations SET sealed_api_key = :t"), {"t": lost})
        await uow.commit()
    r = await api.client.delete("/api/integrations/plusvibe")
    assert r.status_code == 200 and r.json()["connected"] is False, r.text
    assert "does not open" in r.json()["webhookError"] and hook["_id"] in r.json()["webhookError"]


async def test_a_failed_registration_on_test_keeps_no_unannounced_secret(api: Api) -> None:
    """An integration connected before webhooks were registered (no secret, no hook): a Test whose registration
    fails writes no secret; the next one registers the hook and announces its secret (unibox can verify it)."""
    await connect(api)
    async with api.service.runtime.uow() as uow:
        await uow.session.execute(text(
            "UPDATE plusvibe_integrations SET sealed_webhook_secret = '', webhook_id = '', webhook_url = ''"))
        await uow.commit()
    api.sim.state.hooks.clear()
    api.sim.state.faults.add(FaultRule(path="/api/v1/hook/add", status=503, times=None))
    failed = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert failed["webhookError"] == "webhook not registered: unreachable" and failed["version"] == 1
    row = await api.stored()
    assert row is not None and row["sealed_webhook_secret"] == ""
    api.sim.state.faults.clear()
    ok = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert (ok["webhookStatus"], ok["version"]) == ("registered", 2)
    hook = await assert_one_serving_hook(api)
    newest = max((e["data"] for e in await api.outbox_events()), key=lambda d: d["version"])
    assert KeyRing([api.kek]).open(newest["sealed_webhook_secret"], context=webhook_secret_context(
        DEFAULT_WORKSPACE)).get_secret_value() == hook["secret"]


async def test_test_connection_repairs_a_hook_deleted_by_hand(api: Api) -> None:
    await connect(api)
    hook = await assert_one_serving_hook(api)
    api.sim.state.api_hook_del(api.sim.workspace_id, {"ids": [hook["_id"]]})
    tested = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert tested["webhookStatus"] == "registered" and tested["webhookError"] is None
    repaired = await assert_one_serving_hook(api)
    assert repaired["_id"] != hook["_id"] and repaired["secret"] == hook["secret"]
    assert tested["version"] == 1  # same secret: nothing to announce

    api.sim.state.faults.add(FaultRule(path="/api/v1/hook/list", status=503, times=None))
    failed = (await api.client.post("/api/integrations/plusvibe/test")).json()
    assert failed["lastError"] is None and failed["webhookError"] == "webhook not registered: unreachable"
