"""Prometheus metrics of the PlusVibe client, on prometheus_client's default registry (servicekit's `/metrics`
serves it beside its own): one count and one duration per HTTP attempt, by endpoint and outcome.

    plusvibe_calls_total{endpoint,outcome}            outcome: ok, rate_limited, auth_rejected, not_found,
                                                      rejected, server_error, ambiguous, unreachable,
                                                      circuit_open
    plusvibe_call_duration_seconds{endpoint,outcome}  from the request to the classified response

`endpoint` is the path template (an id segment becomes `{id}`), so the label set stays bounded.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Histogram

from plusvibe.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CircuitOpenError,
    NotFoundError,
    PlusVibeError,
    RateLimitedError,
    TransientError,
)

CALLS = Counter("plusvibe_calls", "PlusVibe HTTP attempts by endpoint and outcome.", ["endpoint", "outcome"])
DURATION = Histogram("plusvibe_call_duration_seconds", "PlusVibe HTTP attempt duration.", ["endpoint", "outcome"],
                     buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

_ID_SEGMENT = re.compile(r"/(?=[^/]*\d)[^/]{8,}")


def endpoint_of(path: str) -> str:
    """`/unibox/threads/65f3c92d3dbe5dbb35374a9a/mark-as-read` → `/unibox/threads/{id}/mark-as-read`."""
    return _ID_SEGMENT.sub("/{id}", path)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, RateLimitedError):
        return "rate_limited"
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, AmbiguousSendError):
        return "ambiguous"
    if isinstance(error, AuthenticationError):
        return "auth_rejected"
    if isinstance(error, NotFoundError):
        return "not_found"
    if isinstance(error, TransientError):
        return "server_error" if error.status_code is not None else "unreachable"
    if isinstance(error, PlusVibeError):
        return "rejected"
    return "unreachable"


def observe(path: str, error: BaseException | None, seconds: float | None) -> None:
    endpoint, outcome = endpoint_of(path), outcome_of(error)
    CALLS.labels(endpoint=endpoint, outcome=outcome).inc()
    if seconds is not None:
        DURATION.labels(endpoint=endpoint, outcome=outcome).observe(seconds)
