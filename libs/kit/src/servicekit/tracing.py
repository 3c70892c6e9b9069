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

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
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
        record_spans(True)
    trace.set_tracer_provider(provider)
    _configured = True


_recording = False


def record_spans(enabled: bool) -> None:
    """Whether `continued_span` makes SDK spans (when something exports them) or only carries the context.

    Without an exporter a recorded span is thrown away when it ends; building it (sampler, attributes,
    processors) was ~40 µs per consumed event. The context still continues either way: same trace id, a new
    span id per hop, so logs and downstream events stay correlated."""
    global _recording
    _recording = enabled


_TRACER: trace.Tracer | None = None
_ids = RandomIdGenerator()
# Only the W3C trace context travels (no baggage): the propagator is used directly, not the global composite.
_W3C = TraceContextTextMapPropagator()


def tracer() -> trace.Tracer:
    """The kit's tracer, made once (a proxy until `configure_tracing` installs the SDK provider)."""
    global _TRACER
    if _TRACER is None:
        _TRACER = trace.get_tracer("servicekit")
    return _TRACER


def inject_traceparent(headers: MutableMapping[str, str]) -> None:
    """Adds the current trace context (if any) to outgoing headers as a W3C `traceparent`."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        headers[HEADER_TRACEPARENT] = (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
                                       f"{int(span_context.trace_flags):02x}")


@contextlib.contextmanager
def continued_span(name: str, headers: Mapping[str, str], **attributes: str) -> Iterator[None]:
    """A span that continues the trace of incoming headers (a consumed record or an HTTP request)."""
    incoming = headers.get(HEADER_TRACEPARENT)
    parent = _W3C.extract({"traceparent": incoming}) if incoming else context.Context()
    if not _recording:  # carry the context only: same trace, a new span id for this hop
        upstream = trace.get_current_span(parent).get_span_context()
        hop = SpanContext(trace_id=upstream.trace_id if upstream.is_valid else _ids.generate_trace_id(),
                          span_id=_ids.generate_span_id(), is_remote=False,
                          trace_flags=upstream.trace_flags if upstream.is_valid else TraceFlags(TraceFlags.SAMPLED))
        parent = trace.set_span_in_context(NonRecordingSpan(hop), parent)
    token = context.attach(parent)
    try:
        if _recording:
            with tracer().start_as_current_span(name, attributes=attributes):
                yield
        else:
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
        # Only `traceparent` is read (the last one, as before): no dict of every header per request.
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            if key == _TRACEPARENT_KEY:
                headers[HEADER_TRACEPARENT] = value.decode("latin-1")
        with continued_span(f"{scope['method']} {scope['path']}", headers, component="http"):
            await self.app(scope, receive, send)


_TRACEPARENT_KEY = HEADER_TRACEPARENT.lower().encode("latin-1")  # ASGI header names are lower-case bytes


def current_trace_id() -> str | None:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None
