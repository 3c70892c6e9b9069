"""Per-account state: ONE breaker and ONE way to the account's shared send slots per (base_url, api key) per
event loop."""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from plusvibe.breaker import CircuitBreaker
from plusvibe.settings import PlusVibeSettings
from plusvibe.slots import FileSlots, PostgresSlots, ProcessSlots, SlotStore, default_file_path


class SlotMissed(Exception):
    """Raised just before a request's headers are written when its slot is already too far in the past."""


class SendSlot:
    """One released request; resolved with the loop time its headers hit the socket."""

    def __init__(self, future: asyncio.Future[float], due: float = 0.0, max_late_s: float = float("inf")) -> None:
        self._future = future
        self.due = due
        self.max_late_s = max_late_s

    def check_on_time(self) -> None:
        """Called as the headers are about to be written (after connecting, which can take long on a cold
        client): a request this late for its slot would arrive next to the following slots' requests, so
        nothing is sent and the caller takes a new slot."""
        if asyncio.get_running_loop().time() - self.due > self.max_late_s:
            self.mark_unsent()
            raise SlotMissed

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
    """What every client of one account in this process shares: the breaker, and the way to the account's
    send slots (``plusvibe.slots``), which every process of every service shares."""

    breaker: CircuitBreaker
    rate: float
    slots: SlotStore
    account: str
    burst: int = 5
    window_s: float = 1.0
    _recent: deque[asyncio.Future[float]] = field(default_factory=deque)
    _lock: asyncio.Lock | None = None

    @property
    def interval_s(self) -> float:
        return 1.0 / self.rate

    @property
    def lateness_budget_s(self) -> float:
        """``burst`` slots span ``burst × interval`` seconds, so a request that *arrives* up to
        ``burst × interval − window`` after its slot cannot make a window at the server hold ``burst + 1``."""
        return max(0.0, self.burst * self.interval_s - self.window_s)

    @property
    def max_lateness_s(self) -> float:
        """How late after its slot this process may wake and still send: 40 % of the budget. The headers may
        start up to 60 % late (`SendSlot.check_on_time`); the last 40 % is for the way from the socket to the
        server's clock, which a loaded machine or network stretches (in the cross-process test, with every
        budget given to the client, a starved server stamped 6 requests inside one second)."""
        return 0.4 * self.lateness_budget_s

    async def acquire(self) -> SendSlot:
        """Reserve the account's next slot and wait for it, then make sure the request ``burst`` places back in
        this process was *written to the socket* at least ``window_s`` ago (an event-loop stall between release
        and write would otherwise bunch requests up on the wire, and the server counts arrivals). One
        reservation per account per process at a time: a process that dies holds at most one slot."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                # The slot as an instant, not a wait: an answer that came back late (a busy database or event
                # loop) has already spent part of the wait, and counting it from the answer would send late.
                slot_at = await self.slots.reserve_at(self.account, self.interval_s)
                due = loop.time() + (slot_at - time.time())
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                if loop.time() - due <= self.max_lateness_s:
                    break
                # Past its slot (a stall, or the answer came too late): sending now could crowd the next ones.
            if len(self._recent) >= self.burst:
                sent_at = await asyncio.shield(self._recent[0])
                wait = sent_at + self.window_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._recent.popleft()
            future: asyncio.Future[float] = loop.create_future()
            self._recent.append(future)
            # Late wake-ups were handled above; the headers may still start up to 60 % of the budget late.
            return SendSlot(future, due=due, max_late_s=0.6 * self.lateness_budget_s)


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

    Slots are ``1/rate`` seconds apart across every process sharing the store, so no one-second window ever
    holds more than ``rate`` requests, even at start-up.
    """
    loop = asyncio.get_running_loop()
    base = settings.base_url.rstrip("/")
    key = (base, key_fingerprint(settings.api_key.get_secret_value()))
    with _lock:
        per_loop = _registry.setdefault(loop, {})
        guard = per_loop.get(key)
        if guard is None:
            guard = AccountGuard(
                breaker=CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_s),
                rate=settings.effective_rate,
                slots=_slot_store(settings, loop),
                # The account, as the slot store names it: the key's fingerprint at its API's address.
                account=f"{key[1]}@{base}",
                burst=max(1, math.floor(settings.requests_per_second)),
            )
            per_loop[key] = guard
        return guard


_stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SlotStore]] = weakref.WeakKeyDictionary()


def _slot_store(settings: PlusVibeSettings, loop: asyncio.AbstractEventLoop) -> SlotStore:
    """One store per place per event loop (caller holds ``_lock``): every account of a process reaching the
    same database shares its one connection."""
    kind = settings.resolved_limit_store()
    if kind == "postgres":
        if settings.limit_database_url is None:
            raise ValueError("PLUSVIBE_LIMIT_STORE=postgres needs PLUSVIBE_LIMIT_DATABASE_URL or DATABASE_URL")
        place = "postgres:" + settings.limit_database_url.get_secret_value()
    elif kind == "file":
        place = "file:" + str((settings.limit_file or default_file_path()).resolve())
    else:
        place = "process"
    per_loop = _stores.setdefault(loop, {})
    store = per_loop.get(place)
    if store is None:
        if kind == "postgres":
            store = PostgresSlots(place.removeprefix("postgres:"))
        elif kind == "file":
            store = FileSlots(Path(place.removeprefix("file:")))
        else:
            store = ProcessSlots()
        per_loop[place] = store
    return store


async def close_slot_stores() -> None:
    """Close this event loop's slot stores' connections (a store reopens on its next use); called by the
    clients' ``aclose``."""
    with _lock:
        stores = list(_stores.get(asyncio.get_running_loop(), {}).values())
    for store in stores:
        await store.close()


def reset_registry() -> None:
    """Forget every guard (tests)."""
    with _lock:
        _registry.clear()
        _stores.clear()
