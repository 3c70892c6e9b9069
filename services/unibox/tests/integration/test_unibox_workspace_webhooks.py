"""Per-workspace webhooks on the real broker and PostgreSQL: `POST /api/plusvibe/webhooks/{workspace}` admits only
the secret leads announced for that workspace (PlusVibeIntegrationChanged, sealed under the KEK), refuses everything
else with 401 and stores nothing, refuses a malformed workspace name with 404, follows a disconnect at once in the
process that consumed it; the shared-secret route keeps working beside it."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from unibox_testkit import WEBHOOK_SECRET, integration_changed, publish_integrations, settings_for

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import EMAIL_ACTIVITY_RECEIVED, LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED
from outreach_ops.topic_admin import ensure_topics
from plusvibe.client import PlusVibeClient
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.webhooks import SECRET_HEADER
from servicekit.testing import Database, wait_until
from unibox.adapters.orm import webhook_events
from unibox.bootstrap import UniboxService

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEGACY = "/api/plusvibe/webhooks"
SECRET = "default-workspace-webhook-secret"
OTHER_SECRET = "other-workspace-webhook-secret"
API_CONTEXT_SECRET = "sealed-in-the-api-key-context"
INVALID = "The webhook secret is missing or wrong."


def hook(workspace: str) -> str:
    return f"{LEGACY}/{workspace}"


def payload(n: int) -> dict[str, Any]:
    return {"webhook_event": "EMAIL_SENT", "email": f"lead-{n}@example.test", "campaign_id": "c1", "n": n}


def pv_settings(kek: str) -> PlusVibeSettings:
    return PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="x", workspace_id="w", kek=kek)


async def admits(service: UniboxService, workspace: str, secret: str | None) -> bool:
    return (await service.webhook_secrets.secret(workspace)).admits(secret)


async def stored_version(service: UniboxService, workspace: str) -> int:
    async with service.uow() as uow:
        row = await uow.webhook_secrets.get(workspace)
    return row.version if row is not None else 0


async def count(service: UniboxService) -> int:
    async with service.uow() as uow:
        return await uow.webhooks.count()


async def refusals(http: httpx.AsyncClient) -> list[httpx.Response]:
    """Every way a delivery to the default workspace (or an unknown one) must be refused."""
    body = payload(0)
    return [
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={SECRET_HEADER: "not-the-secret"}),
        await http.post(hook(DEFAULT_WORKSPACE), json=body),
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={SECRET_HEADER: ""}),
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={SECRET_HEADER: f"{SECRET} "}),
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={"x-other-header": SECRET}),
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={SECRET_HEADER: OTHER_SECRET}),
        await http.post(hook(DEFAULT_WORKSPACE), json=body, headers={SECRET_HEADER: WEBHOOK_SECRET}),
        await http.post(hook("nobody"), json=body, headers={SECRET_HEADER: SECRET}),
        await http.post(hook("api-ctx"), json=body, headers={SECRET_HEADER: API_CONTEXT_SECRET}),
    ]


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> str:
    await ensure_topics(kafka_bootstrap, [LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED, EMAIL_ACTIVITY_RECEIVED],
                        prefix=topic_prefix)
    return topic_prefix


async def test_a_workspace_route_admits_only_that_workspaces_announced_secret(
    pg_database: Database, kafka_bootstrap: str, topics: str, running_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kek = new_kek()
    ring = KeyRing([kek])
    # A TTL longer than the test: only this process's invalidation (the consumer's `changed`) shows a change.
    settings = settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topics,
                            opens_poll_interval_s=0, integration_ttl_s=3600)
    unused = PlusVibeClient(pv_settings(kek))
    async with running_app(settings, plusvibe=unused, plusvibe_settings=pv_settings(kek), embedded_workers=True) as (
            _, http, service):
        before = await http.post(hook(DEFAULT_WORKSPACE), json=payload(0), headers={SECRET_HEADER: SECRET})
        assert (before.status_code, before.json()["reason"]) == (401, "webhook_secret_invalid")  # nothing announced

        await publish_integrations(kafka_bootstrap, topics, [
            integration_changed(1, keyring=ring, api_key="k1", plusvibe_workspace_id="pv", webhook_secret=SECRET),
            integration_changed(1, keyring=ring, api_key="k2", plusvibe_workspace_id="pv", workspace="other",
                                webhook_secret=OTHER_SECRET),
            integration_changed(1, keyring=ring, api_key="k3", plusvibe_workspace_id="pv", workspace="api-ctx",
                                sealed_webhook_secret=ring.seal(API_CONTEXT_SECRET, context="api-ctx"))])
        await wait_until(lambda: admits(service, DEFAULT_WORKSPACE, SECRET), timeout_s=30,
                         what="the default workspace's secret to reach the route")
        await wait_until(lambda: admits(service, "other", OTHER_SECRET), timeout_s=30, what="the other secret")

        async def api_ctx_stored() -> bool:
            return await stored_version(service, "api-ctx") == 1

        await wait_until(api_ctx_stored, timeout_s=30, what="the api-ctx workspace's secret")

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="unibox.entrypoints.http"):
            refused = await refusals(http)
        assert await count(service) == 0  # nothing stored for an unverified delivery
        accepted = await http.post(hook(DEFAULT_WORKSPACE), json=payload(1), headers={SECRET_HEADER: SECRET})
        redelivered = await http.post(hook(DEFAULT_WORKSPACE), json=payload(1), headers={SECRET_HEADER: SECRET})
        other = await http.post(hook("other"), json=payload(2), headers={SECRET_HEADER: OTHER_SECRET})
        not_json = await http.post(hook(DEFAULT_WORKSPACE), content=b"<html>", headers={SECRET_HEADER: SECRET})
        legacy = await http.post(LEGACY, json=payload(3), headers={SECRET_HEADER: WEBHOOK_SECRET})
        legacy_with_workspace_secret = await http.post(LEGACY, json=payload(4), headers={SECRET_HEADER: SECRET})
        stored = await count(service)
        async with service.uow() as uow:
            workspaces = {str(i): w for i, w in (await uow.session.execute(
                select(webhook_events.c.id, webhook_events.c.workspace))).all()}

        await publish_integrations(kafka_bootstrap, topics, [integration_changed(2)])  # default disconnected

        async def disconnected() -> bool:
            return not await admits(service, DEFAULT_WORKSPACE, SECRET)

        await wait_until(disconnected, timeout_s=30, what="the disconnect to reach the route")
        after_disconnect = await http.post(hook(DEFAULT_WORKSPACE), json=payload(5), headers={SECRET_HEADER: SECRET})

    assert [r.status_code for r in refused] == [401] * len(refused)
    assert {(r.json()["reason"], r.json()["message"]) for r in refused} == {("webhook_secret_invalid", INVALID)}
    unreadable = [r for r in caplog.records if "does not open" in r.getMessage()]
    assert len(unreadable) == 1  # the api-ctx delivery: logged once, without secret material
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert API_CONTEXT_SECRET not in text and SECRET not in text

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["duplicate"] is False
    assert redelivered.json() == {**accepted.json(), "duplicate": True}
    assert other.status_code == 200 and other.json()["webhookId"] != accepted.json()["webhookId"]
    assert (not_json.status_code, not_json.json()["reason"]) == (400, "invalid_payload")  # the same body handling
    assert legacy.status_code == 200  # hooks registered by hand keep the shared secret
    assert legacy_with_workspace_secret.status_code == 401
    assert stored == 3
    assert workspaces == {accepted.json()["webhookId"]: DEFAULT_WORKSPACE, other.json()["webhookId"]: "other",
                          legacy.json()["webhookId"]: DEFAULT_WORKSPACE}  # each stored as the workspace it came for
    assert (after_disconnect.status_code, after_disconnect.json()["reason"]) == (401, "webhook_secret_invalid")


@pytest.mark.parametrize("workspace", ["bad.name", "x" * 65, "caf%C3%A9", "a%00b", "ws%0A", "a%20b", "..%2F..%2Fx"])
async def test_a_malformed_workspace_is_not_found(pg_database: Database, running_app: Any, workspace: str) -> None:
    settings = settings_for(pg_database)
    async with running_app(settings, plusvibe=PlusVibeClient(pv_settings(new_kek())),
                           plusvibe_settings=pv_settings(new_kek())) as (_, http, service):
        answer = await http.post(f"{LEGACY}/{workspace}", json=payload(0), headers={SECRET_HEADER: WEBHOOK_SECRET})
        assert await count(service) == 0
    assert answer.status_code == 404
    if "%2F" not in workspace:  # a slash is no route at all (the framework's 404)
        assert answer.json()["reason"] == "unknown_workspace"


async def test_without_a_kek_every_workspace_delivery_is_refused(
    pg_database: Database, running_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ring = KeyRing([new_kek()])
    settings = settings_for(pg_database)
    async with running_app(settings, plusvibe=PlusVibeClient(pv_settings("")), plusvibe_settings=pv_settings("")) as (
            _, http, service):
        async with service.uow() as uow:
            event = integration_changed(1, keyring=ring, api_key="k", plusvibe_workspace_id="pv", webhook_secret=SECRET)
            await uow.webhook_secrets.keep_newest(DEFAULT_WORKSPACE, sealed_secret=event.sealed_webhook_secret,
                                                  version=1, changed_at=event.changed_at)
            await uow.commit()
        with caplog.at_level(logging.WARNING, logger="unibox.entrypoints.http"):
            answers = [await http.post(hook(DEFAULT_WORKSPACE), json=payload(0), headers={SECRET_HEADER: SECRET})
                       for _ in range(2)]
        legacy = await http.post(LEGACY, json=payload(1), headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert [a.status_code for a in answers] == [401, 401]
    assert len([r for r in caplog.records if "PLUSVIBE_KEK" in r.getMessage()]) == 2  # one warning per request
    assert legacy.status_code == 200
