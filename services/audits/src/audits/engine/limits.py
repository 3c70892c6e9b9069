"""Concurrency caps for audits: a global limit and a per-domain limit (so one domain is never
audited by many workers at once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AuditLimiter:
    """`async with limiter.slot(domain):` waits for a global slot and a slot for that domain."""

    def __init__(self, *, max_total: int = 20, max_per_domain: int = 1) -> None:
        if max_total < 1 or max_per_domain < 1:
            raise ValueError("limits must be at least 1")
        self._total = asyncio.Semaphore(max_total)
        self._max_per_domain = max_per_domain
        self._domains: dict[str, tuple[asyncio.Semaphore, int]] = {}
        self.active = 0
        self.peak = 0

    @asynccontextmanager
    async def slot(self, domain: str) -> AsyncIterator[None]:
        key = domain.strip().lower().rstrip(".")
        semaphore, users = self._domains.get(key, (asyncio.Semaphore(self._max_per_domain), 0))
        self._domains[key] = (semaphore, users + 1)
        try:
            # Domain first: a worker waiting on a busy domain must not hold a global slot.
            async with semaphore, self._total:
                self.active += 1
                self.peak = max(self.peak, self.active)
                try:
                    yield
                finally:
                    self.active -= 1
        finally:
            semaphore, users = self._domains[key]
            if users <= 1:
                del self._domains[key]
            else:
                self._domains[key] = (semaphore, users - 1)

    @property
    def tracked_domains(self) -> int:
        return len(self._domains)
