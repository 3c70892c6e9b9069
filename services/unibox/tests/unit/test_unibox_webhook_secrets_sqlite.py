"""The webhook secret unibox keeps per workspace from PlusVibeIntegrationChanged, on SQLite: the newest version wins
(an older one arriving late changes nothing), a disconnect clears it, and what the webhook route verifies against
(read and opened with the KEK) follows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from unibox_testkit import ACME, PortsByWorkspace, integration_changed, settings_for

from contracts.integrations import DEFAULT_WORKSPACE, PlusVibeIntegrationChanged
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.events import Decoded, new_envelope
from servicekit.testing import Database
from unibox.adapters.repositories import StoredWebhookSecret
from unibox.bootstrap import UniboxService, bootstrap
from unibox.handlers import on_plusvibe_integration_changed

KEK = new_kek()
RING = KeyRing([KEK])
# A long TTL: only the `changed` callback can make a stored change visible to the route's cache in these tests.
TTL_S = 3600.0


@pytest.fixture
async def service(sqlite_database: Database) -> AsyncIterator[UniboxService]:
    pv = PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", kek=KEK)
    svc = bootstrap(settings_for(sqlite_database, integration_ttl_s=TTL_S), plusvibe_settings=pv)
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


async def _apply(svc: UniboxService, event: PlusVibeIntegrationChanged) -> bool:
    """Handles the event as the consumer does; True when the `changed` callback ran after the commit."""
    calls: list[None] = []

    def changed(workspace: str) -> None:
        calls.append(None)
        svc.integration_changed(workspace)

    async with svc.uow() as uow:
        await on_plusvibe_integration_changed.handle(Decoded(envelope=new_envelope(event), event=event), uow,
                                                     changed=changed)
        await uow.commit()
    return bool(calls)


async def _stored(svc: UniboxService, workspace: str = DEFAULT_WORKSPACE) -> StoredWebhookSecret | None:
    async with svc.uow() as uow:
        return await uow.webhook_secrets.get(workspace)


def _connected(version: int, secret: str, workspace: str = DEFAULT_WORKSPACE) -> PlusVibeIntegrationChanged:
    return integration_changed(version, keyring=RING, api_key=f"key-{version}", plusvibe_workspace_id="ws",
                               workspace=workspace, webhook_secret=secret)


async def test_the_newest_secret_wins_and_an_older_version_changes_nothing(service: UniboxService) -> None:
    newer, older = _connected(2, "secret-2"), _connected(1, "secret-1")
    assert await _stored(service) is None
    assert (await service.webhook_secrets.secret(DEFAULT_WORKSPACE)).secret is None  # nothing stored: refused

    assert await _apply(service, newer) is True
    assert await _apply(service, older) is False  # neither store changed: no callback

    assert await _stored(service) == StoredWebhookSecret(
        workspace=DEFAULT_WORKSPACE, sealed_secret=newer.sealed_webhook_secret, version=2,
        changed_at=newer.changed_at)
    expected = await service.webhook_secrets.secret(DEFAULT_WORKSPACE)
    assert expected.admits("secret-2") and not expected.admits("secret-1")
    async with service.uow() as uow:  # the credentials followed the same event
        credentials = await uow.plusvibe_credentials.get(DEFAULT_WORKSPACE)
    assert credentials is not None and credentials.version == 2


async def test_a_disconnect_clears_the_secret_so_the_workspace_refuses_every_webhook(service: UniboxService) -> None:
    await _apply(service, _connected(1, "secret-1"))
    assert (await service.webhook_secrets.secret(DEFAULT_WORKSPACE)).admits("secret-1")

    assert await _apply(service, integration_changed(2)) is True  # disconnected: key and secret empty

    row = await _stored(service)
    assert row is not None and (row.sealed_secret, row.version) == ("", 2)
    expected = await service.webhook_secrets.secret(DEFAULT_WORKSPACE)
    assert (expected.secret, expected.unreadable) == (None, False)
    assert not expected.admits("secret-1") and not expected.admits("")
    assert await _apply(service, _connected(1, "secret-1")) is False  # the late older connect stays ignored
    assert (await _stored(service)) == row


async def test_a_disconnect_that_still_carries_a_secret_stores_none(service: UniboxService) -> None:
    event = integration_changed(3).model_copy(update={
        "sealed_webhook_secret": RING.seal("stale", context="default/webhook-secret")})
    await _apply(service, event)
    row = await _stored(service)
    assert row is not None and row.sealed_secret == ""


async def test_a_new_secret_alone_calls_changed(service: UniboxService) -> None:
    """The credentials already hold this version (stored before unibox kept secrets): the secret is still stored and
    `changed` still runs, so this process's route sees it at once."""
    event = _connected(5, "secret-5")
    async with service.uow() as uow:
        assert await uow.plusvibe_credentials.keep_newest(event)
        await uow.commit()
    assert (await service.webhook_secrets.secret(DEFAULT_WORKSPACE)).secret is None  # cached for TTL_S

    assert await _apply(service, event) is True
    assert (await service.webhook_secrets.secret(DEFAULT_WORKSPACE)).admits("secret-5")


async def test_secrets_are_kept_per_workspace(service: UniboxService) -> None:
    await _apply(service, _connected(1, "secret-a", workspace="a"))
    await _apply(service, _connected(1, "secret-b", workspace="b"))
    a, b = (await service.webhook_secrets.secret("a")), (await service.webhook_secrets.secret("b"))
    assert a.admits("secret-a") and not a.admits("secret-b")
    assert b.admits("secret-b") and not b.admits("secret-a")
    row = await _stored(service, "b")
    assert row is not None and row.changed_at == datetime(2026, 11, 1, 12, 0, 1, tzinfo=UTC)


async def test_a_stored_change_drops_the_threads_listed_under_the_previous_integration(service: UniboxService) -> None:
    listed, other = service.threads_cache.of(DEFAULT_WORKSPACE), service.threads_cache.of("other")
    listed.put("ana@example.test", [])
    other.put("ana@example.test", [])
    assert listed.get("ana@example.test") == []
    assert await _apply(service, _connected(1, "secret-1")) is True
    assert listed.get("ana@example.test") is None
    assert other.get("ana@example.test") == []  # another workspace's integration did not change


async def test_a_change_of_one_workspace_invalidates_only_that_workspaces_port_and_threads(
    sqlite_database: Database,
) -> None:
    ports = PortsByWorkspace({})
    svc = bootstrap(settings_for(sqlite_database, integration_ttl_s=TTL_S), plusvibe_ports=ports,
                    plusvibe_settings=PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", kek=KEK))
    await svc.runtime.migrate()
    try:
        for workspace in (DEFAULT_WORKSPACE, ACME):
            svc.threads_cache.of(workspace).put("ana@example.test", [])
        assert await _apply(svc, _connected(1, "secret-acme", workspace=ACME)) is True
    finally:
        await svc.runtime.dispose()
    assert ports.invalidated == [ACME]
    assert svc.threads_cache.of(ACME).get("ana@example.test") is None
    assert svc.threads_cache.of(DEFAULT_WORKSPACE).get("ana@example.test") == []
