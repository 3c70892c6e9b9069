"""Which credentials unibox's PlusVibe port resolves, on SQLite with no PlusVibe reachable: the environment's while
nothing is stored, the newest stored integration (opened with the KEK) once one is, and a refusal for a disconnected
integration or a key this deployment's KEK does not open. Every refusal comes before any request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from unibox_testkit import integration_changed, settings_for

from contracts.integrations import DEFAULT_WORKSPACE, PlusVibeIntegrationChanged
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.events import Decoded, new_envelope
from servicekit.testing import Database
from unibox.adapters.plusvibe import NotConnectedError
from unibox.bootstrap import UniboxService, bootstrap
from unibox.handlers import on_plusvibe_integration_changed

UNREACHABLE = "http://127.0.0.1:9/api/v1"  # nothing listens: a call that got as far as the network would fail otherwise
KEK = new_kek()


@pytest.fixture
async def service(sqlite_database: Database) -> AsyncIterator[UniboxService]:
    pv = PlusVibeSettings(base_url=UNREACHABLE, api_key="env-key", workspace_id="env-ws", kek=KEK)
    svc = bootstrap(settings_for(sqlite_database), plusvibe_settings=pv)
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


async def _apply(svc: UniboxService, event: PlusVibeIntegrationChanged) -> None:
    assert svc.connection(DEFAULT_WORKSPACE) is not None
    async with svc.uow() as uow:
        await on_plusvibe_integration_changed.handle(Decoded(envelope=new_envelope(event), event=event), uow,
                                                     changed=svc.ports.invalidate)
        await uow.commit()


async def _resolved(svc: UniboxService) -> tuple[str, str] | None:
    connection = svc.connection(DEFAULT_WORKSPACE)
    assert connection is not None
    creds = await connection.credentials()
    return (creds.api_key.get_secret_value(), creds.workspace_id) if creds is not None else None


async def test_unibox_resolves_env_then_the_newest_stored_integration_then_refuses(service: UniboxService) -> None:
    ring = KeyRing([KEK])
    assert await _resolved(service) == ("env-key", "env-ws")  # nothing stored: the environment's key

    await _apply(service, integration_changed(2, keyring=ring, api_key="stored-key-2", plusvibe_workspace_id="ws-2"))
    assert await _resolved(service) == ("stored-key-2", "ws-2")
    await _apply(service, integration_changed(1, keyring=ring, api_key="stored-key-1", plusvibe_workspace_id="ws-1"))
    assert await _resolved(service) == ("stored-key-2", "ws-2")  # the older version changed nothing

    other = KeyRing([new_kek()])  # sealed under a KEK this deployment does not hold
    await _apply(service, integration_changed(3, keyring=other, api_key="stored-key-3", plusvibe_workspace_id="ws-3"))
    with pytest.raises(NotConnectedError, match=r"does not open .*\(PLUSVIBE_KEK\)") as unreadable:
        await service.plusvibe(DEFAULT_WORKSPACE).list_mailboxes()
    assert unreadable.value.reason == "integration_key_unreadable"

    await _apply(service, integration_changed(4))  # disconnected
    assert await _resolved(service) is None
    with pytest.raises(AuthenticationError, match=r"^PlusVibe is not connected: .*Integrations") as refused:
        await service.plusvibe(DEFAULT_WORKSPACE).list_campaigns()
    assert isinstance(refused.value, NotConnectedError) and refused.value.reason == "plusvibe_not_configured"
