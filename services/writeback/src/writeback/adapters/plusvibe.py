"""PlusVibe wiring: one port per platform workspace (`plusvibe.workspace_ports`), each over the credentials
connected now for that workspace (its row of `plusvibe_credentials`, opened with the deployment's KEK). Only
`default` falls back to `PLUSVIBE_API_KEY` / `PLUSVIBE_WORKSPACE_ID` while nothing is stored; a disconnected
integration, or another workspace with nothing connected, refuses every call
(`plusvibe.credential_store.connected_workspaces`)."""

from __future__ import annotations

from collections.abc import Callable

from plusvibe.credential_store import UNREADABLE, StoredCredentials, connected_workspaces
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import WorkspacePorts
from writeback.adapters.uow import WritebackUnitOfWork


def unreadable() -> AuthenticationError:
    # An operator's fix, never retried: a permanent PlusVibe error (the writeback fails with this reason).
    return AuthenticationError(UNREADABLE)


def connected_plusvibe(settings: PlusVibeSettings, uows: Callable[[], WritebackUnitOfWork], *,
                       ttl_s: float) -> WorkspacePorts:
    async def read(workspace: str) -> StoredCredentials | None:
        async with uows() as uow:
            return await uow.plusvibe_credentials.get(workspace)

    return connected_workspaces(settings, read, ttl_s=ttl_s, unreadable=unreadable)
