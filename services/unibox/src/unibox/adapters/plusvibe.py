"""PlusVibe wiring: the port over the credentials connected now (the workspace's row of `plusvibe_credentials`,
opened with the deployment's KEK), falling back to `PLUSVIBE_API_KEY` / `PLUSVIBE_WORKSPACE_ID` while nothing is
stored (pointed at the simulator locally); a disconnected integration refuses every call
(`plusvibe.credential_store.connected_to_store`)."""

from __future__ import annotations

from collections.abc import Callable

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.credential_store import UNREADABLE, StoredCredentials, connected_to_store
from plusvibe.errors import AuthenticationError
from plusvibe.settings import PlusVibeSettings
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
                       ttl_s: float) -> ConnectedPlusVibe:
    async def read(workspace: str) -> StoredCredentials | None:
        async with uows() as uow:
            return await uow.plusvibe_credentials.get(workspace)

    return connected_to_store(settings, read, workspace=DEFAULT_WORKSPACE, ttl_s=ttl_s, unreadable=unreadable,
                              not_connected=not_connected)
