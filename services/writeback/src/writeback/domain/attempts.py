"""Writeback attempt states and the replay rule."""

from __future__ import annotations

from typing import Final

PENDING: Final = "pending"  # linked: waiting for (or between) PlusVibe calls
DELIVERED: Final = "delivered"  # PlusVibe has the variables
UNLINKED: Final = "unlinked"  # built and announced with delivered=false; nothing to send
SUPERSEDED: Final = "superseded"  # a newer attempt for the lead replaced it before it finished
FAILED: Final = "failed"  # retries exhausted or a permanent PlusVibe error

# A new automatic attempt identical to the lead's last one in these states is a replay: nothing to do.
REPLAY_COVERED: Final = frozenset({PENDING, DELIVERED, UNLINKED})


def is_replay(last_status: str | None, last_key: str | None, new_key: str) -> bool:
    return last_status in REPLAY_COVERED and last_key == new_key


def backoff_s(attempt: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """Delay before try `attempt + 1`: exponential, capped, scaled by `jitter` in [0.5, 1]."""
    return float(min(cap_s, base_s * 2.0 ** max(attempt - 1, 0)) * jitter)
