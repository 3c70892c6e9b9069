"""Which exporters the SDK's environment names (otlp as soon as an OTLP endpoint is set, none otherwise, a clear
error for an unknown name), and the root sampler: a client span (an SQL statement, an HTTP call) that starts no
trace of a request or event is dropped, everything else is kept, and a client span inside a trace is kept."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from servicekit.process.tracing import NoRootClientSpans, span_exporters


@pytest.mark.parametrize(("env", "expected"), [
    ({}, []),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, ["otlp", "console"]),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
])
def test_exporters_named_by_the_environment(env: dict[str, str], expected: list[str]) -> None:
    assert span_exporters(env) == expected


def test_an_unknown_exporter_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown exporters \\['jaeger'\\]"):
        span_exporters({"OTEL_TRACES_EXPORTER": "otlp,jaeger"})


def test_root_client_spans_are_dropped_and_every_span_of_a_trace_is_kept() -> None:
    sampler = ParentBased(root=NoRootClientSpans())
    root = {kind: sampler.should_sample(None, 1, "x", kind=kind).decision for kind in trace.SpanKind}
    assert root[trace.SpanKind.CLIENT] is Decision.DROP
    assert all(root[kind] is Decision.RECORD_AND_SAMPLE for kind in trace.SpanKind if kind is not trace.SpanKind.CLIENT)
    parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
        trace_id=7, span_id=9, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
    inside = sampler.should_sample(parent, 7, "SELECT", kind=trace.SpanKind.CLIENT).decision
    assert inside is Decision.RECORD_AND_SAMPLE
