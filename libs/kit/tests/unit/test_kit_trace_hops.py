"""`continued_span`: every hop keeps the incoming trace id and gets its own span id, whether spans are
recorded (an exporter is configured) or only the context is carried (the default, cheaper path)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servicekit.process.tracing import (
    configure_tracing,
    continued_span,
    current_trace_id,
    inject_traceparent,
    record_spans,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM_SPAN = "00f067aa0ba902b7"


@pytest.fixture(params=[False, True], ids=["context-only", "recorded"])
def recording(request: pytest.FixtureRequest) -> Iterator[bool]:
    configure_tracing("kit-tests")  # the SDK provider a service installs (once per process)
    record_spans(request.param)
    try:
        yield request.param
    finally:
        record_spans(False)


def _outgoing() -> list[str]:
    headers: dict[str, str] = {}
    inject_traceparent(headers)
    return headers["traceparent"].split("-")


def test_a_hop_keeps_the_incoming_trace_and_gets_a_new_span(recording: bool) -> None:
    with continued_span("consume X", {"traceparent": f"00-{TRACE}-{UPSTREAM_SPAN}-01"}):
        version, trace_id, span_id, flags = _outgoing()
        assert current_trace_id() == TRACE
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert span_id != UPSTREAM_SPAN and len(span_id) == 16 and int(span_id, 16) != 0


def test_two_hops_of_one_trace_get_different_span_ids(recording: bool) -> None:
    spans = []
    for _ in range(2):
        with continued_span("consume X", {"traceparent": f"00-{TRACE}-{UPSTREAM_SPAN}-01"}):
            spans.append(_outgoing()[2])
    assert spans[0] != spans[1]


def test_without_incoming_context_a_new_trace_starts_and_ends_with_the_hop(recording: bool) -> None:
    with continued_span("consume X", {}):
        trace_id = current_trace_id()
        assert trace_id is not None and trace_id != TRACE and int(trace_id, 16) != 0
    with continued_span("consume X", {"traceparent": "garbage"}):
        assert current_trace_id() not in (None, trace_id)
    assert current_trace_id() is None  # nothing leaks out of the hop
