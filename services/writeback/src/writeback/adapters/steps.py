"""How many steps a campaign's sequence has, read from PlusVibe (through the port of the campaign's platform
workspace: each connects its own PlusVibe workspace) and cached with a TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from plusvibe.errors import NotFoundError
from plusvibe.port import PlusVibePort

# A campaign as its platform workspace names it: (workspace, campaign id).
CampaignKey = tuple[str, str]


class StepCache:
    def __init__(self, ports: Callable[[str], PlusVibePort], ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`ports(workspace)`: the PlusVibe port of a platform workspace."""
        self._ports = ports
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[CampaignKey, tuple[int, float]] = {}
        self._locks: dict[CampaignKey, asyncio.Lock] = {}

    def _fresh(self, key: CampaignKey) -> int | None:
        hit = self._cache.get(key)
        return hit[0] if hit is not None and hit[1] > self._clock() else None

    async def steps(self, workspace: str, campaign_id: str) -> int:
        """≥ 1. An unknown campaign counts as 1 step (its sends then fail on their own)."""
        key = (workspace, campaign_id)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        # One lookup per campaign at a time: a burst of leads of one campaign makes one request.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._fresh(key)
            if cached is not None:
                return cached
            try:
                count = max(await self._ports(workspace).campaign_step_count(campaign_id), 1)
            except NotFoundError:
                count = 1
            self._cache[key] = (count, self._clock() + self._ttl_s)
            return count
