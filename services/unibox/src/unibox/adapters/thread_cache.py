"""A short-lived in-process cache of a contact's threads (the Unibox feed is slow and rate limited), kept per
platform workspace."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(self, ttl_s: float, *, max_entries: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._items: dict[str, tuple[float, T]] = {}

    def get(self, key: str) -> T | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored_at, value = item
        if self._clock() - stored_at > self.ttl_s:
            self._items.pop(key, None)
            return None
        return value

    def put(self, key: str, value: T) -> None:
        if len(self._items) >= self.max_entries:
            oldest = min(self._items, key=lambda k: self._items[k][0])
            self._items.pop(oldest, None)
        self._items[key] = (self._clock(), value)

    def invalidate(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


class PerWorkspace(Generic[T]):
    """One `TtlCache` per platform workspace, made on first use: a workspace never reads another's entries (the same
    address may be a contact in two), and a change of one workspace's integration drops only its own."""

    def __init__(self, make: Callable[[], TtlCache[T]]) -> None:
        self._make = make
        self._caches: dict[str, TtlCache[T]] = {}

    def of(self, workspace: str) -> TtlCache[T]:
        cache = self._caches.get(workspace)
        if cache is None:
            cache = self._caches[workspace] = self._make()
        return cache

    def clear(self, workspace: str) -> None:
        cache = self._caches.get(workspace)
        if cache is not None:
            cache.clear()
