"""`plusvibe_calls_total{endpoint,outcome}` and `plusvibe_call_duration_seconds` count the client's real HTTP
attempts against the simulator: successes, a 429 that was retried, a rejected key, and id segments folded."""

from __future__ import annotations

from collections.abc import Callable

import prometheus_client
import pytest

from plusvibe.client import PlusVibeClient
from plusvibe.errors import AuthenticationError
from plusvibe.metrics import endpoint_of
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim


def calls(endpoint: str, outcome: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(
        "plusvibe_calls_total", {"endpoint": endpoint, "outcome": outcome})
    return value or 0.0


def timed(endpoint: str, outcome: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(
        "plusvibe_call_duration_seconds_count", {"endpoint": endpoint, "outcome": outcome})
    return value or 0.0


async def test_every_attempt_is_counted_by_endpoint_and_outcome(
        client: PlusVibeClient, make_client: Callable[..., PlusVibeClient], sim: Sim) -> None:
    before = {key: calls(*key) for key in [("/authenticate", "ok"), ("/lead/get", "ok"), ("/lead/get", "rate_limited"),
                                           ("/authenticate", "auth_rejected")]}
    timed_before = timed("/lead/get", "rate_limited")
    await client.authenticate()
    sim.state.faults.add(FaultRule(path="/api/v1/lead/get", status=429, retry_after="1"))
    await client.get_lead("nobody@example.test")  # a 429, waited, then the answer
    async with make_client(api_key="wrong-key-9999") as rejected:
        with pytest.raises(AuthenticationError):
            await rejected.authenticate()
    assert calls("/authenticate", "ok") - before[("/authenticate", "ok")] == 1
    assert calls("/lead/get", "rate_limited") - before[("/lead/get", "rate_limited")] == 1
    assert calls("/lead/get", "ok") - before[("/lead/get", "ok")] == 1
    assert calls("/authenticate", "auth_rejected") - before[("/authenticate", "auth_rejected")] == 1
    assert timed("/lead/get", "rate_limited") - timed_before == 1


def test_id_segments_are_folded_so_the_label_set_stays_bounded() -> None:
    assert endpoint_of("/unibox/threads/65f3c92d3dbe5dbb35374a9a/mark-as-read") == "/unibox/threads/{id}/mark-as-read"
    assert endpoint_of("/lead/data/update") == "/lead/data/update"
    assert endpoint_of("/campaign/list-all") == "/campaign/list-all"
