"""PlusVibe calls made with a given key: a candidate key being checked, or the connected key managing its webhooks.

Not the process's connected PlusVibe port (which serves pushes with whatever key is connected): each call here runs
through a client of its own for that key (same base URL, limits and timeouts as the deployment's settings), closed
afterwards. Closing only the HTTP client matters: the PlusVibe client's `aclose()` also closes the process's shared
rate-limit stores under every other PlusVibe call in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from leads.domain.webhook_plan import SeenHook, Wanted
from plusvibe.client import PlusVibeClient
from plusvibe.models import Workspace
from plusvibe.settings import PlusVibeSettings


class PlusVibeAccount:
    def __init__(self, base: PlusVibeSettings) -> None:
        self.base = base

    @asynccontextmanager
    async def _client(self, api_key: SecretStr, plusvibe_workspace_id: str = "") -> AsyncIterator[PlusVibeClient]:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
            yield PlusVibeClient(self.base.model_copy(update={"api_key": api_key,
                                                              "workspace_id": plusvibe_workspace_id}), http=http)

    async def workspaces(self, api_key: SecretStr) -> list[Workspace]:
        """The PlusVibe workspaces the key reaches (`/authenticate`)."""
        async with self._client(api_key) as client:
            return await client.authenticate()

    async def hooks(self, api_key: SecretStr, plusvibe_workspace_id: str) -> list[SeenHook]:
        async with self._client(api_key, plusvibe_workspace_id) as client:
            listed = await client.list_webhooks()
        return [SeenHook(id=h.id, name=h.name, url=h.url, events=frozenset(h.evt_types), secret=h.secret,
                         active=(h.status or "ACTIVE").upper() == "ACTIVE") for h in listed]

    async def add_hook(self, api_key: SecretStr, plusvibe_workspace_id: str, wanted: Wanted) -> str:
        async with self._client(api_key, plusvibe_workspace_id) as client:
            return await client.add_webhook(wanted.url, sorted(wanted.events), name=wanted.name,
                                            secret=wanted.secret, alerts=wanted.alerts)

    async def delete_hooks(self, api_key: SecretStr, plusvibe_workspace_id: str, ids: Sequence[str]) -> None:
        if ids:
            async with self._client(api_key, plusvibe_workspace_id) as client:
                await client.delete_webhooks(ids)
