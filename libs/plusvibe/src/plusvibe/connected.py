"""The PlusVibe port over whatever credentials are connected *now*.

A service builds one `ConnectedPlusVibe` at start-up with a resolver that reads the credentials it keeps (its own
table, filled from the integration events). Each call resolves them (cached for `ttl_s`), and goes to a
`PlusVibeClient` for that key and workspace (one per key and workspace, kept, so the per-account limiter and
breaker keep their state). An operator's connect, key change or disconnect therefore reaches every process of
every service within `ttl_s`, with no restart.

Resolution: the resolver's `Credentials` win; `None` (nothing stored yet: a deployment configured the old way)
falls back to the environment's key and workspace when both are set; a disconnected integration refuses
(`not_configured()`), whatever the environment says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from plusvibe.client import PlusVibeClient
from plusvibe.credentials import Credentials
from plusvibe.errors import TransientError
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings

Resolver = Callable[[], Awaitable[Credentials | None]]


class NotConnectedError(TransientError):
    """No credentials are connected (disconnected, or nothing connected and no environment key). Nothing was sent.
    Retryable: work that waits (a pending writeback) goes through once an operator connects a key."""


def default_not_connected() -> BaseException:
    return NotConnectedError("PlusVibe is not connected: connect an API key and workspace under Integrations.")


class ConnectedPlusVibe:
    """A `PlusVibePort` (see `as_port`) whose every call uses the currently connected credentials."""

    def __init__(self, base: PlusVibeSettings, resolve: Resolver, *, ttl_s: float = 5.0,
                 not_configured: Callable[[], BaseException] = default_not_connected) -> None:
        self._base = base
        self._resolve = resolve
        self._ttl_s = ttl_s
        self._not_configured = not_configured
        self._clients: dict[tuple[str, str], PlusVibeClient] = {}
        self._current: Credentials | None = None
        self._resolved_at = -float("inf")
        self._generation = 0  # bumped by invalidate(): a resolve that started before it is not kept
        self._lock = asyncio.Lock()

    def as_port(self) -> PlusVibePort:
        return cast(PlusVibePort, self)

    def env_credentials(self) -> Credentials | None:
        key = self._base.api_key
        return Credentials(key, self._base.workspace_id) if key.get_secret_value() and self._base.workspace_id else None

    def invalidate(self) -> None:
        """Resolve again on the next call (this process just changed the integration)."""
        self._generation += 1
        self._resolved_at = -float("inf")

    async def credentials(self) -> Credentials | None:
        """The credentials the next call uses (None: not connected)."""
        while time.monotonic() - self._resolved_at >= self._ttl_s:
            async with self._lock:
                if time.monotonic() - self._resolved_at < self._ttl_s:
                    break
                generation = self._generation
                stored = await self._resolve()
                if generation != self._generation:
                    continue  # invalidated while reading: what was read may predate the change; read again
                self._current = self.env_credentials() if stored is None else stored
                self._resolved_at = time.monotonic()
                break
        current = self._current
        return current if current is not None and current.connected else None

    async def client(self) -> PlusVibeClient:
        creds = await self.credentials()
        if creds is None:
            raise self._not_configured()
        key = (creds.fingerprint, creds.workspace_id)
        client = self._clients.get(key)
        if client is None:
            settings = self._base.model_copy(update={"api_key": creds.api_key, "workspace_id": creds.workspace_id})
            client = self._clients[key] = PlusVibeClient(settings)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def iter_unibox_emails(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async def pages() -> AsyncIterator[Any]:
            async for item in (await self.client()).iter_unibox_emails(*args, **kwargs):
                yield item

        return pages()

    def __getattr__(self, name: str) -> Any:
        # Every other port method is a coroutine method of the client: resolve, then delegate. (A hand-written
        # method per endpoint would repeat the port's 20 signatures for no behaviour of its own.)
        if name.startswith("_") or not callable(getattr(PlusVibeClient, name, None)):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(await self.client(), name)(*args, **kwargs)

        call.__name__ = name
        return call
