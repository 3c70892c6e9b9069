"""One PlusVibe port per platform workspace (docs/WORKSPACES.md).

Each platform workspace connects its own PlusVibe key and workspace under Integrations, so a service that calls
PlusVibe keeps one `ConnectedPlusVibe` per platform workspace, made on first use and kept (its clients hold the
per-account limiter and breaker state). Only the `default` workspace falls back to the environment's
`PLUSVIBE_API_KEY`/`PLUSVIBE_WORKSPACE_ID` (the configuration of a deployment made before workspaces); any other
workspace calls PlusVibe only with the key connected for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.connected import ConnectedPlusVibe
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings


def settings_for(base: PlusVibeSettings, workspace: str) -> PlusVibeSettings:
    """The settings a workspace's port starts from: the environment's key only for `default`."""
    if workspace == DEFAULT_WORKSPACE:
        return base
    # model_copy does not validate: the key must be a SecretStr like the field's own values.
    return base.model_copy(update={"api_key": SecretStr(""), "workspace_id": ""})


class PlusVibePorts(Protocol):
    """What a service holds to call PlusVibe: the port of each platform workspace (`WorkspacePorts`, or `OnePort`
    in tests that bring their own client or fake)."""

    def port(self, workspace: str) -> PlusVibePort: ...

    def connection(self, workspace: str) -> ConnectedPlusVibe | None: ...

    def invalidate(self, workspace: str) -> None: ...

    async def aclose(self) -> None: ...


class OnePort:
    """One port for every workspace (a test's client or fake): no connected integration behind it, nothing to
    invalidate. Closed with the service only when `owned` (else whoever made it closes it)."""

    def __init__(self, port: PlusVibePort, *, owned: bool = False) -> None:
        self._port = port
        self._owned = owned

    def port(self, workspace: str) -> PlusVibePort:
        return self._port

    def connection(self, workspace: str) -> ConnectedPlusVibe | None:
        return None

    def invalidate(self, workspace: str) -> None:
        return None

    async def aclose(self) -> None:
        close = getattr(self._port, "aclose", None) if self._owned else None
        if close is not None:
            await close()


class WorkspacePorts:
    """The `ConnectedPlusVibe` of each platform workspace, built by `make(workspace)` on first use."""

    def __init__(self, make: Callable[[str], ConnectedPlusVibe]) -> None:
        self._make = make
        self._connections: dict[str, ConnectedPlusVibe] = {}

    def connection(self, workspace: str) -> ConnectedPlusVibe:
        connection = self._connections.get(workspace)
        if connection is None:
            connection = self._connections[workspace] = self._make(workspace)
        return connection

    def port(self, workspace: str) -> PlusVibePort:
        return self.connection(workspace).as_port()

    def invalidate(self, workspace: str) -> None:
        """Resolve the workspace's credentials again on its next call (this process just changed them)."""
        connection = self._connections.get(workspace)
        if connection is not None:
            connection.invalidate()

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
