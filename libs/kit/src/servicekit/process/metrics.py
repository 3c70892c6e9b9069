"""Prometheus metrics every service process exposes on `/metrics` (the API's HTTP port; a worker's health port).

Process-wide, on this module's `REGISTRY`: `http_request_duration_seconds{method,route,status}`
(`HttpLatencyMiddleware`), `http_requests_rate_limited_total{service}` (429s of `servicekit.web.rate_limit`),
`consumer_conflicting_duplicates_total{group}`, and what `servicekit.messaging.consumer.ConsumerMetrics` reads from the
process's consumers when scraped: `consumer_records_total{group,outcome}`, `consumer_batches_total`,
`consumer_transient_retries_total`, `consumer_batch_fallbacks_total` and `kafka_consumer_group_lag{group,topic,
partition}`. The lag is measured once: by the consumer that owns the partition, from its fetch responses, so
API replicas no longer each ask the broker for the same numbers.
prometheus_client's default registry is served too: the PlusVibe client's `plusvibe_calls_total` and
`plusvibe_call_duration_seconds` (`plusvibe.metrics`) and the process collectors (CPU, memory, GC).
Per API, the lazily computed DLQ and outbox gauges and the `/metrics` route are `servicekit.web.metrics`
(`install_metrics(app, runtime)`); a worker's health port answers `/metrics` (`servicekit.process.worker_health`).
This module imports no other part of the kit, so the consumers record here without importing the runtime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency by route template.",
                         ["method", "route", "status"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
HTTP_RATE_LIMITED = Counter("http_requests_rate_limited", "Inbound requests refused with 429 by the rate limit.",
                            ["service"], registry=REGISTRY)


CONFLICTING_DUPLICATES = Counter("consumer_conflicting_duplicates",
                                 "Records that reused an applied event id with another payload (parked).",
                                 ["group"], registry=REGISTRY)


MEMBERSHIP_RESTARTS = Counter("consumer_membership_restarts",
                              "Group members restarted because their (re)join stalled "
                              "(servicekit.messaging.membership_watchdog).", ["group"], registry=REGISTRY)


def record_membership_restart(group: str) -> None:
    MEMBERSHIP_RESTARTS.labels(group=group).inc()


def record_conflicting_duplicate(group: str) -> None:
    CONFLICTING_DUPLICATES.labels(group=group).inc()


def record_rate_limited(service: str) -> None:
    """Count one inbound request refused by the rate limit."""
    HTTP_RATE_LIMITED.labels(service=service).inc()


class LazyGauges(Collector):
    """Gauges whose values come from an async probe, refreshed at most every `cache_s` seconds on scrape.
    A failed probe keeps the previous values (and logs a warning) rather than failing the scrape."""

    def __init__(self, probe: Callable[[], Awaitable[list[Metric]]], *, cache_s: float = 5.0,
                 timeout_s: float = 5.0) -> None:
        self._probe = probe
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._metrics: list[Metric] = []
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._cache_s:
                return
            try:
                self._metrics = await asyncio.wait_for(self._probe(), self._timeout_s)
            except Exception:  # a scrape reports what it can; the probe failing must not fail /metrics
                log.warning("metrics probe failed; serving the previous values", exc_info=True)
            self._fetched_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics)


def process_metrics() -> bytes:
    """The process-wide metrics in the text format: the kit's registry and prometheus_client's default one."""
    return generate_latest(REGISTRY) + generate_latest(prometheus_client.REGISTRY)
