"""`/metrics` of a service API and the HTTP latency histogram (the process-wide metrics are
`servicekit.process.metrics`).

Per API, computed lazily when scraped and cached for a few seconds (so a scrape storm never hammers the broker
or the database): `kafka_dlq_depth{topic}`, `kafka_dlq_not_redriven{topic}`,
`kafka_dlq_oldest_pending_age_seconds{topic}` (absent while unknown) and `outbox_backlog` (unsent outbox rows).
Alert rules on them: deploy/k8s/components/monitoring.

A service wires it after building its app (before it starts serving)::

    from servicekit.web.metrics import install_metrics
    install_metrics(app, runtime)

Workers need nothing: `servicekit.process.worker_health` answers `/metrics` beside `/health/live`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.process.metrics import HTTP_LATENCY, LazyGauges, process_metrics
from servicekit.process.tables import outbox

if TYPE_CHECKING:
    from servicekit.messaging.kafka_config import KafkaSecurity
    from servicekit.process.runtime import ServiceRuntime


def dlq_depth_probe(bootstrap: str, dlq_topics: Sequence[str],
                    security: KafkaSecurity | None = None) -> Callable[[], Awaitable[list[Metric]]]:
    async def probe() -> list[Metric]:
        from servicekit.messaging.dlq_depth import dlq_depths

        depth = GaugeMetricFamily("kafka_dlq_depth", "Records retained in a dead-letter topic.", labels=["topic"])
        pending = GaugeMetricFamily("kafka_dlq_not_redriven", "DLQ records not redriven yet.", labels=["topic"])
        age = GaugeMetricFamily("kafka_dlq_oldest_pending_age_seconds",
                                "Age of the oldest DLQ record not redriven yet (0: none pending).", labels=["topic"])
        for row in await dlq_depths(bootstrap, list(dlq_topics), security=security) if dlq_topics else []:
            depth.add_metric([row.topic], row.depth)
            pending.add_metric([row.topic], row.pending)
            # Absent (not 0) while unknown: a 0 would hide an old record from the age alerts; the rules alert
            # on "pending but no age" instead.
            if (seconds := row.oldest_pending_age_s()) is not None:
                age.add_metric([row.topic], seconds)
        return [depth, pending, age]

    return probe


def outbox_backlog_probe(engine: AsyncEngine) -> Callable[[], Awaitable[list[Metric]]]:
    """Counts unsent outbox rows (the engine's search_path selects the service's schema on PostgreSQL)."""

    async def probe() -> list[Metric]:
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
                                        )).scalar_one()
        gauge = GaugeMetricFamily("outbox_backlog", "Outbox rows not yet published.")
        gauge.add_metric([], int(count))
        return [gauge]

    return probe


def metrics_router(collectors: Sequence[LazyGauges], *, path: str = "/metrics") -> APIRouter:
    """GET `path`: refreshes the lazy gauges (cached), then renders them and the process-wide metrics."""
    local = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        local.register(collector)
    router = APIRouter(tags=["metrics"])

    @router.get(path, include_in_schema=False)
    async def metrics() -> Response:
        await asyncio.gather(*(c.refresh() for c in collectors))
        return Response(process_metrics() + generate_latest(local), media_type=CONTENT_TYPE_LATEST)

    return router


class HttpLatencyMiddleware:
    """Pure ASGI middleware: observes each HTTP request's duration labelled by the matched route template
    (never the raw path, which would explode the label cardinality)."""

    def __init__(self, app: ASGIApp, *, exclude: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.app = app
        self.exclude = exclude
        # Bounded like the label set itself: methods × route templates × statuses.
        self._children: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (scope.get("method", ""), template, status)
            child = self._children.get(key)
            if child is None:  # `labels()` validates and locks on every call: resolve each series once
                child = self._children[key] = HTTP_LATENCY.labels(method=key[0], route=template, status=str(status))
            child.observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, runtime: ServiceRuntime[Any], *, cache_s: float = 5.0) -> None:
    """Mounts `/metrics` and the latency middleware for a service built on `ServiceRuntime`: depth and age of
    its consumers' DLQs and the outbox backlog of its database, beside the process-wide metrics."""
    bootstrap = runtime.settings.kafka_bootstrap_servers
    security = runtime.settings.kafka_security
    dlqs = sorted({c.dlq_topic for c in runtime.consumers})
    collectors = [
        LazyGauges(dlq_depth_probe(bootstrap, dlqs, security), cache_s=cache_s),
        LazyGauges(outbox_backlog_probe(runtime.engine), cache_s=cache_s),
    ]
    app.add_middleware(HttpLatencyMiddleware)
    app.include_router(metrics_router(collectors))
