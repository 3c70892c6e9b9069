"""Per-account shared state: ONE rate limiter and ONE breaker per (base_url, api key) per event loop."""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from plusvibe.breaker import CircuitBreaker
from plusvibe.settings import PlusVibeSettings


class SendSlot:
    """One released request; resolved with the loop time its headers hit the socket."""

    def __init__(self, future: asyncio.Future[float]) -> None:
        self._future = future

    def mark_sent(self) -> None:
        if not self._future.done():
            self._future.set_result(asyncio.get_running_loop().time())

    def mark_unsent(self) -> None:
        """Nothing reached the server (connect failure): the slot does not count."""
        if not self._future.done():
            self._future.set_result(-1e9)

    def finish(self) -> None:
        """Called in ``finally``: if no send was observed, assume the request went out now."""
        self.mark_sent()


@dataclass
class AccountGuard:
    """What every client of one account in this process shares."""

    limiter: AsyncLimiter
    breaker: CircuitBreaker
    rate: float
    burst: int = 5
    window_s: float = 1.0
    _recent: deque[asyncio.Future[float]] = field(default_factory=deque)
    _lock: asyncio.Lock | None = None

    async def acquire(self) -> SendSlot:
        """Pace with aiolimiter, then make sure the request ``burst`` places back was *written to
        the socket* at least ``window_s`` ago. Releases alone are not enough: an event-loop stall
        between release and write lets requests bunch up on the wire, and the server counts arrivals."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            await self.limiter.acquire()
            if len(self._recent) >= self.burst:
                sent_at = await asyncio.shield(self._recent[0])
                wait = sent_at + self.window_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._recent.popleft()
            future: asyncio.Future[float] = loop.create_future()
            self._recent.append(future)
            return SendSlot(future)


def key_fingerprint(api_key: str) -> str:
    """Short one-way fingerprint of a key, safe to log and to use as a dict key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


_lock = threading.Lock()
# Keyed by event loop as well: asyncio primitives must not be shared across loops (tests use many).
_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], AccountGuard]] = (
    weakref.WeakKeyDictionary()
)


def account_guard(settings: PlusVibeSettings) -> AccountGuard:
    """Return the process-wide guard of this account, creating it on first use.

    The limiter lets one request through every ``1/rate`` seconds (bucket size 1), so no
    one-second window ever holds more than ``rate`` requests, even at start-up.
    """
    loop = asyncio.get_running_loop()
    key = (settings.base_url.rstrip("/"), key_fingerprint(settings.api_key.get_secret_value()))
    with _lock:
        per_loop = _registry.setdefault(loop, {})
        guard = per_loop.get(key)
        if guard is None:
            rate = settings.effective_rate
            guard = AccountGuard(
                limiter=AsyncLimiter(1, 1.0 / rate),
                breaker=CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_s),
                rate=rate,
                burst=max(1, math.floor(settings.requests_per_second * settings.replica_share)),
            )
            per_loop[key] = guard
        return guard


def reset_registry() -> None:
    """Forget every guard (tests)."""
    with _lock:
        _registry.clear()
