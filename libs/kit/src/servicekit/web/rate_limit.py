"""Inbound rate limiting: a token bucket per principal, answered with 429 + `Retry-After` when it is empty.

A principal is the SHA-256 of the API key the request presents (`X-API-Key`, or `Authorization: Bearer`),
when that key is one the service knows; any other request — no key, or a key nobody issued — is counted
against its client IP, so inventing keys never buys a fresh bucket. The raw key is never stored or logged.
Health probes and metric scrapes are never limited."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.process.metrics import record_rate_limited
from servicekit.web.auth import hash_key, presented_key

Clock = Callable[[], float]

EXEMPT_PATHS: frozenset[str] = frozenset({"/health/live", "/health/ready", "/metrics"})
MAX_PRINCIPALS = 10_000
# Refill arithmetic in floats: 0.1 s × 10/s can come out a hair under one token.
_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimitMiddleware:
    """Pure ASGI. `rate_per_s` tokens per second refill each principal's bucket up to `burst`; a request takes
    one token or is refused with 429. `rate_per_s` = 0 switches limiting off. At most `max_principals`
    buckets are kept (least recently used evicted first; buckets that have refilled are dropped as they age,
    since a full bucket is the same as none). `known_key_hashes` None trusts every presented key."""

    def __init__(self, app: ASGIApp, *, rate_per_s: float, burst: int, service: str = "service",
                 known_key_hashes: Iterable[str] | None = None, clock: Clock = time.monotonic,
                 max_principals: int = MAX_PRINCIPALS, exempt: frozenset[str] = EXEMPT_PATHS) -> None:
        if rate_per_s < 0 or burst < 1 or max_principals < 1:
            raise ValueError("rate_per_s must be >= 0, burst and max_principals >= 1")
        self.app = app
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.service = service
        self.known = None if known_key_hashes is None else frozenset(h.lower() for h in known_key_hashes)
        self.clock = clock
        self.max_principals = max_principals
        self.exempt = exempt
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.rate_per_s <= 0 or scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        wait_s = self._take(self._principal(scope))
        if wait_s is None:
            await self.app(scope, receive, send)
            return
        record_rate_limited(self.service)
        await rate_limited_response(wait_s)(scope, receive, send)

    def _principal(self, scope: Scope) -> str:
        presented = presented_key(Headers(scope=scope))
        if presented is not None:
            digest = hash_key(presented)
            if self.known is None or digest in self.known:
                return f"key:{digest}"
        client = scope.get("client")
        return f"ip:{client[0] if client else 'unknown'}"

    def _take(self, principal: str) -> float | None:
        """Takes a token; None when granted, else the seconds until one is available."""
        now = self.clock()
        bucket = self.buckets.get(principal)
        if bucket is None:
            bucket = self.buckets[principal] = _Bucket(self.burst, now)
            self._evict(now)
        else:
            self.buckets.move_to_end(principal)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
            bucket.updated = now
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return None
        return (1.0 - bucket.tokens) / self.rate_per_s

    def _evict(self, now: float) -> None:
        while len(self.buckets) > self.max_principals:
            self.buckets.popitem(last=False)
        # The least recently used buckets come first; drop those that have refilled (a handful per call).
        for _ in range(2):
            principal, oldest = next(iter(self.buckets.items()))
            if len(self.buckets) == 1 or oldest.tokens + (now - oldest.updated) * self.rate_per_s < self.burst:
                return
            del self.buckets[principal]


def retry_after_s(wait_s: float) -> int:
    """`Retry-After` in whole seconds: rounded up, never 0 (a client retrying at once would be refused again)."""
    return max(1, math.ceil(wait_s - _EPSILON))


def rate_limited_response(wait_s: float) -> JSONResponse:
    seconds = retry_after_s(wait_s)
    return JSONResponse({"reason": "rate_limited",
                         "message": f"Too many requests; retry in {seconds} s. Nothing was changed."},
                        status_code=429, headers={"Retry-After": str(seconds)})


class RateLimitedError(BaseModel):
    """The body of a 429: the kit's error shape (`servicekit.web.http.ApiError`)."""

    reason: Literal["rate_limited"]
    message: str


# The 429 of every route the limiter covers, for the OpenAPI: `include_router(router, responses=RATE_LIMITED_RESPONSES)`
# (servicekit.web.http does it for every service router; health and metrics routes are included without it).
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {429: {
    "model": RateLimitedError,
    "description": "Too many requests from this API key (or client address); retry after `Retry-After` seconds.",
    "headers": {"Retry-After": {"description": "Whole seconds to wait before retrying.",
                                "schema": {"type": "integer", "minimum": 1}}},
}}
