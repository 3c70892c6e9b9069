"""A small circuit breaker: closed → open after N consecutive transient failures → half-open probe."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Not thread-safe; one instance per account per event loop (see ``limits``)."""

    def __init__(
        self,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return self._state

    def retry_in(self) -> float:
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def allow_peek(self) -> bool:
        """True unless the breaker is open and still cooling down (does not take the probe slot)."""
        return self.state is not BreakerState.OPEN

    def allow(self) -> bool:
        """True when a request may go out; in half-open only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probe_in_flight = False
        self._state = BreakerState.CLOSED

    def record_failure(self) -> None:
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if was_probe or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()

    def abandon(self) -> None:
        """A request was not sent after all: a half-open probe may go again, nothing is learnt."""
        self._probe_in_flight = False

    def release(self) -> None:
        """A request ended without telling us about server health (e.g. 4xx)."""
        if self._probe_in_flight:
            self._probe_in_flight = False
            self._state = BreakerState.CLOSED
            self._failures = 0
