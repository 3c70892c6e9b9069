"""The PlusVibe integration connected under Integrations (leads' PlusVibeIntegrationChanged, the key sealed under the
deployment's KEK) on the real broker and PostgreSQL, the app running its consumers: unibox keeps the newest version,
calls the simulator with the connected key (never the environment's), and refuses every PlusVibe call once the
integration is disconnected."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from unibox_testkit import READ, WRITE, integration_changed, publish_integrations, settings_for

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED, REPLY_SENT
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credential_store import StoredCredentials
from plusvibe.credentials import KeyRing, fingerprint, new_kek
from plusvibe.errors import AuthenticationError
from plusvibe.testing import Sim
from servicekit.testing import Database, wait_until
from unibox.adapters.orm import plusvibe_credentials
from unibox.bootstrap import UniboxService
from unibox.settings import UniboxSettings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
MAILBOXES_PATH = "/api/v1/account/list"
NOT_CONNECTED = r"^PlusVibe is not connected: .*Integrations"


@pytest.fixture
async def settings(pg_database: Database, kafka_bootstrap: str, topic_prefix: str) -> UniboxSettings:
    await ensure_topics(kafka_bootstrap, [LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED, REPLY_SENT], prefix=topic_prefix)
    # The opens poller off: every PlusVibe request the simulator sees is one the test made.
    return settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix,
                        opens_poll_interval_s=0)


async def _stored(service: UniboxService, workspace: str = DEFAULT_WORKSPACE) -> StoredCredentials | None:
    async with service.uow() as uow:
        return await uow.plusvibe_credentials.get(workspace)


async def _wait_for_version(service: UniboxService, version: int, workspace: str = DEFAULT_WORKSPACE) -> None:
    async def stored() -> bool:
        row = await _stored(service, workspace)
        return row is not None and row.version == version

    await wait_until(stored, timeout_s=30, what=f"version {version} of {workspace}'s integration")


def _integration_key(sim: Sim) -> str:
    """A second key the simulator accepts (the environment's key stays the fixture's own)."""
    key = f"integration-key-{uuid.uuid4().hex}"
    with sim.state.lock:
        sim.state.api_keys.add(key)
    return key


async def test_unibox_keeps_the_newest_integration_sealed_and_ignores_an_older_version(
    settings: UniboxSettings, sim: Sim, kafka_bootstrap: str, running_app: Any
) -> None:
    ring = KeyRing([new_kek()])
    newer_key, older_key = f"pv-newer-{uuid.uuid4().hex}", f"pv-older-{uuid.uuid4().hex}"
    newer = integration_changed(2, keyring=ring, api_key=newer_key, plusvibe_workspace_id="ws-newer")
    older = integration_changed(1, keyring=ring, api_key=older_key, plusvibe_workspace_id="ws-older")
    # One partition, so the other workspace's record (published last) is handled after the older version.
    sentinel = integration_changed(1, keyring=ring, api_key="sentinel-key", plusvibe_workspace_id="ws-s",
                                   workspace="sentinel")
    prefix = settings.kafka_topic_prefix
    async with running_app(settings, plusvibe_settings=sim.settings(), embedded_workers=True) as (_, _http, service):
        await publish_integrations(kafka_bootstrap, prefix, [newer])
        await _wait_for_version(service, 2)
        await publish_integrations(kafka_bootstrap, prefix, [older, sentinel])
        await _wait_for_version(service, 1, "sentinel")

        row = await _stored(service)
        async with service.runtime.engine.connect() as conn:
            sealed = (await conn.execute(select(plusvibe_credentials.c.workspace, plusvibe_credentials.c.sealed_api_key)
                                         .order_by(plusvibe_credentials.c.workspace))).all()

    assert row is not None
    assert row == StoredCredentials(workspace=DEFAULT_WORKSPACE, connected=True, plusvibe_workspace_id="ws-newer",
                                    sealed_api_key=newer.sealed_api_key, key_fingerprint=fingerprint(newer_key),
                                    version=2, changed_at=newer.changed_at)
    assert [w for w, _ in sealed] == [DEFAULT_WORKSPACE, "sentinel"]
    for _, token in sealed:  # only sealed tokens at rest: no key in clear
        assert newer_key not in token and older_key not in token and "sentinel-key" not in token
    assert ring.open(row.sealed_api_key, context=DEFAULT_WORKSPACE).get_secret_value() == newer_key
    assert sim.state.request_log() == []  # storing an integration calls nobody


async def test_unibox_calls_plusvibe_with_the_connected_integration_key_not_the_environment_key(
    settings: UniboxSettings, sim: Sim, kafka_bootstrap: str, running_app: Any
) -> None:
    kek = new_kek()
    key = _integration_key(sim)
    env = sim.settings(api_key="env-key-the-simulator-refuses", kek=kek)
    async with running_app(settings, plusvibe_settings=env, embedded_workers=True) as (_, http, service):
        await publish_integrations(kafka_bootstrap, settings.kafka_topic_prefix, [
            integration_changed(1, keyring=KeyRing([kek]), api_key=key, plusvibe_workspace_id=sim.workspace_id)])
        await _wait_for_version(service, 1)
        answer = await http.get("/api/unibox/mailboxes", headers=READ)

    assert answer.status_code == 200, answer.text
    assert sorted(m["email"] for m in answer.json()) == ["alex@sender-one.test", "sam@sender-two.test"]
    requests = sim.state.request_log()
    assert [(r.path, r.status, r.key) for r in requests] == [(MAILBOXES_PATH, 200, fingerprint(key))]


async def test_unibox_refuses_plusvibe_calls_after_a_disconnect_without_falling_back_to_the_environment(
    settings: UniboxSettings, sim: Sim, kafka_bootstrap: str, running_app: Any
) -> None:
    kek = new_kek()
    key = _integration_key(sim)
    prefix = settings.kafka_topic_prefix
    # The environment's key is valid too: a fallback to it would succeed, so only a refusal passes.
    async with running_app(settings, plusvibe_settings=sim.settings(kek=kek), embedded_workers=True) as (
            _, http, service):
        connection = service.connection(DEFAULT_WORKSPACE)
        assert connection is not None
        await publish_integrations(kafka_bootstrap, prefix, [
            integration_changed(1, keyring=KeyRing([kek]), api_key=key, plusvibe_workspace_id=sim.workspace_id)])
        await _wait_for_version(service, 1)
        assert (await http.get("/api/unibox/mailboxes", headers=READ)).status_code == 200  # connected: it works

        await publish_integrations(kafka_bootstrap, prefix, [integration_changed(2)])
        await _wait_for_version(service, 2)

        async def refused() -> bool:
            return await connection.credentials() is None

        await wait_until(refused, timeout_s=15, what="the disconnect to reach the PlusVibe port")
        seen = len(sim.state.request_log())
        with pytest.raises(AuthenticationError, match=NOT_CONNECTED):
            await service.plusvibe(DEFAULT_WORKSPACE).list_mailboxes()
        mailboxes = await http.get("/api/unibox/mailboxes", headers=READ)
        reply = await http.post("/api/unibox/replies", headers={**WRITE, "Idempotency-Key": "after-disconnect"},
                                json={"replyToId": "email-1", "from": "alex@sender-one.test",
                                      "to": "ana@example.test", "subject": "Re: hi", "bodyHtml": "<p>Hi</p>"})
        row = await _stored(service)

    assert (mailboxes.status_code, mailboxes.json()["reason"]) == (503, "plusvibe_not_configured")
    assert "Integrations" in mailboxes.json()["message"]
    assert (reply.status_code, reply.json()["reason"]) == (503, "plusvibe_not_configured")
    assert [r.key for r in sim.state.request_log()] == [fingerprint(key)]  # the one call made while connected
    assert len(sim.state.request_log()) == seen
    assert row is not None
    assert (row.connected, row.sealed_api_key, row.plusvibe_workspace_id, row.key_fingerprint) == (False, "", "", "")
