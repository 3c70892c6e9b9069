"""Jittered exponential backoff ("full jitter"), bounded by a total time budget."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(*, base_s: float = 0.2, cap_s: float = 10.0, rng: random.Random | None = None) -> Iterator[float]:
    """Infinite delays: uniform in [0, min(cap, base·2^n)] — spreads retries of many consumers apart."""
    rnd = rng or random.Random()
    attempt = 0
    while True:
        ceiling = min(cap_s, base_s * (2**attempt))
        yield rnd.uniform(ceiling / 2, ceiling)
        attempt = min(attempt + 1, 30)
