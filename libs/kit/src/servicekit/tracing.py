"""OpenTelemetry trace context carried through HTTP and Kafka, so one request can be followed across services.

A request's `traceparent` (W3C) starts or continues a trace; every event a handler writes to the outbox carries
the current `traceparent` header; a consumer continues the trace of each record it handles. Spans are only
exported when `OTEL_TRACES_EXPORTER=console` (or an SDK exporter is configured by the deployment); by default
the context still propagates, which keeps log correlation and downstream traces intact.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.envelope import HEADER_TRACEPARENT

_configured = False


def configure_tracing(service_name: str) -> None:
    """Installs an SDK tracer provider once per process (spans get real ids; export only when asked)."""
    global _configured
    if _configured:
        return
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if os.environ.get("OTEL_TRACES_EXPORTER") == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("servicekit")


def inject_traceparent(headers: MutableMapping[str, str]) -> None:
    """Adds the current trace context (if any) to outgoing headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        headers[HEADER_TRACEPARENT] = carrier["traceparent"]


@contextlib.contextmanager
def continued_span(name: str, headers: Mapping[str, str], **attributes: str) -> Iterator[None]:
    """A span that continues the trace of incoming headers (a consumed record or an HTTP request)."""
    parent = propagate.extract({"traceparent": headers[HEADER_TRACEPARENT]} if HEADER_TRACEPARENT in headers else {})
    token = context.attach(parent)
    try:
        with tracer().start_as_current_span(name, attributes=attributes):
            yield
    finally:
        context.detach(token)


class TraceMiddleware:
    """Continues (or starts) a trace for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with continued_span(f"{scope['method']} {scope['path']}", headers, component="http"):
            await self.app(scope, receive, send)


def current_trace_id() -> str | None:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None
