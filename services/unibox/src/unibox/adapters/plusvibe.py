"""PlusVibe wiring: one port per platform workspace, each over the credentials connected now for that workspace (its
row of `plusvibe_credentials`, opened with the deployment's KEK); only `default` falls back to `PLUSVIBE_API_KEY` /
`PLUSVIBE_WORKSPACE_ID` while nothing is stored (pointed at the simulator locally); a disconnected integration refuses
every call (`plusvibe.credential_store.connected_workspaces`, `plusvibe.workspace_ports`)."""

from __future__ import annotations

from collections.abc import Callable

from plusvibe.credential_store import UNREADABLE, StoredCredentials, connected_workspaces
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import WorkspacePorts
from unibox.adapters.uow import UniboxUnitOfWork


class NotConnectedError(AuthenticationError):
    """No usable PlusVibe credentials: the integration is disconnected (or was never connected and the environment
    names no key), or its stored key does not open here. No request was sent; an operator must act."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def not_connected() -> NotConnectedError:
    return NotConnectedError("PlusVibe is not connected: connect an API key and workspace under Integrations.",
                             reason="plusvibe_not_configured")


def unreadable() -> NotConnectedError:
    return NotConnectedError(UNREADABLE, reason="integration_key_unreadable")


def connected_plusvibe(settings: PlusVibeSettings, uows: Callable[[], UniboxUnitOfWork], *,
                       ttl_s: float) -> WorkspacePorts:
    async def read(workspace: str) -> StoredCredentials | None:
        async with uows() as uow:
            return await uow.plusvibe_credentials.get(workspace)

    return connected_workspaces(settings, read, ttl_s=ttl_s, unreadable=unreadable, not_connected=not_connected)
