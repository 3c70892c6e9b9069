"""Writeback attempt states, the replay rule, and the event an attempt ends with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from contracts.writeback import WritebackCompleted

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


def completed(attempt: Mapping[Any, Any], *, variables: dict[str, str], delivered: bool, steps: int, tone: str,
              at: datetime) -> WritebackCompleted:
    """The WritebackCompleted an attempt (its row) ends with: delivered to PlusVibe, or built for a lead that is
    not linked (delivered=false, the payload ready for a later push), its copy written in `tone`. The one place the
    event is built."""
    return WritebackCompleted(lead_id=attempt["lead_id"], audit_run_id=attempt["audit_run_id"],
                              audit_requested_at=attempt["audit_requested_at"], variables=variables,
                              delivered=delivered, campaign_id=attempt["campaign_id"], steps=steps, tone=str(tone),
                              completed_at=at, request_id=attempt["request_id"])
