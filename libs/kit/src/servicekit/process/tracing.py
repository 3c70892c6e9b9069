"""OpenTelemetry: trace context carried through HTTP and Kafka, and spans exported where the deployment says.

A request's `traceparent` (W3C) starts or continues a trace; every event a handler writes to the outbox carries
the current `traceparent` header; a consumer continues the trace of each record it handles; a service's worker
that does the slow part later (an audit, a PlusVibe delivery) continues the trace stored with its work item
(`traceparent_now` when the item is written, `continued_span` when it is worked on).

Export is configured with the SDK's own environment variables:
- `OTEL_TRACES_EXPORTER`: `otlp`, `console`, both (comma-separated) or `none`. Unset: `otlp` when
  `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, else `none`.
- the OTLP exporter (HTTP/protobuf) reads `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_TIMEOUT`,
  `_CERTIFICATE`, ...; the batch processor `OTEL_BSP_*`; the resource `OTEL_RESOURCE_ATTRIBUTES` and
  `OTEL_SERVICE_NAME` (else the service's name).

With an exporter, the process also records the spans of the libraries it uses: FastAPI's own server spans
(replacing `TraceMiddleware`), httpx client spans (PlusVibe calls) and SQLAlchemy statement spans of every
engine the kit creates. Without one (the default) nothing is recorded: the context still propagates, which
keeps log correlation and downstream traces intact at a fraction of the cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.envelope import HEADER_TRACEPARENT

log = logging.getLogger(__name__)

_configured = False
_KNOWN_EXPORTERS = frozenset({"otlp", "console", "none"})


def span_exporters(env: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters named by `OTEL_TRACES_EXPORTER` (see the module doc for the default)."""
    named = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if not named:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    names = [n.strip().lower() for n in named.split(",") if n.strip()]
    unknown = sorted(set(names) - _KNOWN_EXPORTERS)
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER names unknown exporters {unknown}; use otlp, console or none")
    return [n for n in names if n != "none"]


def configure_tracing(service_name: str) -> None:
    """Installs an SDK tracer provider once per process (spans get real ids), with the exporters the
    environment names; with any exporter, spans are recorded and the libraries instrumented."""
    global _configured
    if _configured:
        return
    from opentelemetry.sdk.environment_variables import OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER
    from opentelemetry.sdk.resources import Resource

    exporters = span_exporters()
    attributes = {} if os.environ.get(OTEL_SERVICE_NAME) else {"service.name": service_name}
    sampler = None if os.environ.get(OTEL_TRACES_SAMPLER) else ParentBased(root=NoRootClientSpans())
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    for name in exporters:
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    if exporters:
        record_spans(True)
        _instrument_libraries()
        log.info("exporting spans", extra={"fields": {"exporters": exporters}})


class NoRootClientSpans(Sampler):
    """The root sampler (`OTEL_TRACES_SAMPLER` replaces it): every trace is kept, but a client span that starts
    no trace of a request or event is dropped. Those are the statements of polling loops (the relay, the
    workers' claims) and background calls: traced, they would each start a one-span trace many times a second.
    Work a loop does for a request or event runs inside that trace (`continued_from`) and is kept."""

    def should_sample(self, parent_context: context.Context | None, trace_id: int, name: str,
                      kind: trace.SpanKind | None = None, attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> SamplingResult:
        decision = Decision.DROP if kind is trace.SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes if decision is Decision.RECORD_AND_SAMPLE else None)

    def get_description(self) -> str:
        return "NoRootClientSpans"


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    for engine in list(_ENGINES):
        _trace_engine(engine)


_ENGINES: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()
_TRACED: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()


def trace_engine(engine: AsyncEngine) -> None:
    """Statement spans for an engine the kit created: now if spans are recorded, else once they are."""
    _ENGINES.add(engine)
    if _recording:
        _trace_engine(engine)


def _trace_engine(engine: AsyncEngine) -> None:
    # `SQLAlchemyInstrumentor().instrument(engine=...)` instruments one engine per process (the instrumentor is
    # a singleton that ignores later calls), and the kit may create several (embedded mode, tools): each engine
    # gets the instrumentation's own `EngineTracer`, which is what `instrument(engine=...)` creates.
    if engine in _TRACED:
        return
    from opentelemetry import metrics
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    usage: Any = metrics.get_meter("servicekit").create_up_down_counter(
        "db.client.connections.usage", unit="connections", description="Connections by state.")
    sql_tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(sql_tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
    _TRACED.add(engine)


_recording = False


def record_spans(enabled: bool) -> None:
    """Whether `continued_span` makes SDK spans (when something exports them) or only carries the context.

    Without an exporter a recorded span is thrown away when it ends; building it (sampler, attributes,
    processors) was ~40 µs per consumed event. The context still continues either way: same trace id, a new
    span id per hop, so logs and downstream events stay correlated."""
    global _recording
    _recording = enabled


def spans_recorded() -> bool:
    return _recording


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
    traceparent = traceparent_now()
    if traceparent is not None:
        headers[HEADER_TRACEPARENT] = traceparent


def traceparent_now() -> str | None:
    """The current trace context as a W3C `traceparent`, to store with work that a worker does later."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def continued_from(traceparent: str | None, name: str, **attributes: str) -> contextlib.AbstractContextManager[None]:
    """`continued_span` for a stored `traceparent` (a work item written by `traceparent_now`)."""
    incoming = {HEADER_TRACEPARENT: traceparent} if traceparent else {}
    return continued_span(name, incoming, kind=trace.SpanKind.INTERNAL, **attributes)


@contextlib.contextmanager
def continued_span(name: str, headers: Mapping[str, str], *, kind: trace.SpanKind = trace.SpanKind.INTERNAL,
                   **attributes: str) -> Iterator[None]:
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
            with tracer().start_as_current_span(name, kind=kind, attributes=attributes):
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
