"""PlusVibe wiring: the port over the credentials connected now (the workspace's row of `plusvibe_credentials`,
opened with the deployment's KEK), falling back to `PLUSVIBE_API_KEY` / `PLUSVIBE_WORKSPACE_ID` while nothing is
stored; a disconnected integration refuses every call (`plusvibe.connected.ConnectedPlusVibe`)."""

from __future__ import annotations

from collections.abc import Callable

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credential_store import StoredCredentials, stored_credentials
from plusvibe.credentials import keyring_or_none
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
from writeback.adapters.uow import WritebackUnitOfWork


def unreadable() -> AuthenticationError:
    # An operator's fix, never retried: a permanent PlusVibe error (the writeback fails with this reason).
    return AuthenticationError("The stored PlusVibe key does not open with this deployment's key-encryption key "
                               "(PLUSVIBE_KEK); set the KEK or connect the key again under Integrations.")


def connected_plusvibe(settings: PlusVibeSettings, uows: Callable[[], WritebackUnitOfWork], *,
                       ttl_s: float) -> ConnectedPlusVibe:
    """A malformed `PLUSVIBE_KEK` fails here, at start-up (`KeyRingUnavailable`)."""

    async def read(workspace: str) -> StoredCredentials | None:
        async with uows() as uow:
            return await uow.plusvibe_credentials.get(workspace)

    resolve = stored_credentials(read, keyring_or_none(settings.kek), workspace=DEFAULT_WORKSPACE,
                                 unreadable=unreadable)
    return ConnectedPlusVibe(settings, resolve, ttl_s=ttl_s)
