"""How many steps a campaign's sequence has, read from PlusVibe and cached with a TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from plusvibe.errors import NotFoundError
from plusvibe.port import PlusVibePort


class StepCache:
    def __init__(self, port: PlusVibePort, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._port = port
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, campaign_id: str) -> int | None:
        hit = self._cache.get(campaign_id)
        return hit[0] if hit is not None and hit[1] > self._clock() else None

    async def steps(self, campaign_id: str) -> int:
        """≥ 1. An unknown campaign counts as 1 step (its sends then fail on their own)."""
        cached = self._fresh(campaign_id)
        if cached is not None:
            return cached
        # One lookup per campaign at a time: a burst of leads of one campaign makes one request.
        async with self._locks.setdefault(campaign_id, asyncio.Lock()):
            cached = self._fresh(campaign_id)
            if cached is not None:
                return cached
            try:
                count = max(await self._port.campaign_step_count(campaign_id), 1)
            except NotFoundError:
                count = 1
            self._cache[campaign_id] = (count, self._clock() + self._ttl_s)
            return count
