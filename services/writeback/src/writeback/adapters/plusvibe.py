"""PlusVibe wiring: the port over the credentials connected now (the workspace's row of `plusvibe_credentials`,
opened with the deployment's KEK), falling back to `PLUSVIBE_API_KEY` / `PLUSVIBE_WORKSPACE_ID` while nothing is
stored; a disconnected integration refuses every call (`plusvibe.credential_store.connected_to_store`)."""

from __future__ import annotations

from collections.abc import Callable

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credential_store import UNREADABLE, StoredCredentials, connected_to_store
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
from writeback.adapters.uow import WritebackUnitOfWork


def unreadable() -> AuthenticationError:
    # An operator's fix, never retried: a permanent PlusVibe error (the writeback fails with this reason).
    return AuthenticationError(UNREADABLE)


def connected_plusvibe(settings: PlusVibeSettings, uows: Callable[[], WritebackUnitOfWork], *,
                       ttl_s: float) -> ConnectedPlusVibe:
    async def read(workspace: str) -> StoredCredentials | None:
        async with uows() as uow:
            return await uow.plusvibe_credentials.get(workspace)

    return connected_to_store(settings, read, workspace=DEFAULT_WORKSPACE, ttl_s=ttl_s, unreadable=unreadable)
