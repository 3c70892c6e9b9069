"""Pure units: breaker state machine, Retry-After parsing, list envelopes, shared limiter registry."""

from __future__ import annotations

from email.utils import formatdate

from pydantic import SecretStr

from plusvibe.breaker import BreakerState, CircuitBreaker
from plusvibe.limits import account_guard
from plusvibe.models import as_list
from plusvibe.settings import PlusVibeSettings
from plusvibe.transport import parse_retry_after


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # via a call so mypy does not narrow the property between asserts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_allows_one_probe_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN and not breaker.allow()
    clock.now = 10.0
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN and breaker.retry_in() == 10.0
    clock.now = 20.0
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(formatdate(1000.0 + 7, usegmt=True), now=1000.0) == 7.0
    assert parse_retry_after(formatdate(10.0, usegmt=True), now=1000.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_as_list_reads_every_envelope_shape() -> None:
    assert as_list([1]) == [1]
    assert as_list({}) == []
    assert as_list({"hooks": [1, 2]}, "hooks") == [1, 2]
    assert as_list({"1": "b", "0": "a", "10": "c"}) == ["a", "b", "c"]
    assert as_list(None) == []


async def test_one_limiter_per_account_shared_by_every_client() -> None:
    a = PlusVibeSettings(base_url="http://127.0.0.1:1/api/v1", api_key=SecretStr("k1"), limit_store="process")
    b = PlusVibeSettings(base_url="http://127.0.0.1:1/api/v1/", api_key=SecretStr("k1"), workspace_id="other")
    c = PlusVibeSettings(base_url="http://127.0.0.1:1/api/v1", api_key=SecretStr("k2"))
    assert account_guard(a) is account_guard(b)
    assert account_guard(a) is not account_guard(c)
    assert account_guard(a).rate == 5.0 * 0.93
    assert account_guard(a).account != account_guard(c).account
