"""The one place producer and consumer safety settings are chosen (checked by the guard test)."""

from __future__ import annotations

from typing import Any

# Idempotent producer with acknowledgement from every in-sync replica: a retried send never duplicates
# and an acknowledged send survives a broker crash.
PRODUCER_SAFETY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}


def producer_options(client_id: str) -> dict[str, Any]:
    # No linger: the relay already sends a whole outbox batch before awaiting the acks, so the records of a
    # batch share requests anyway; a linger only delayed every hop (produce → consume p50 6.0 → 0.9 ms,
    # p99 9.0 → 2.2 ms at 50 msg/s on the local broker, docs/PERFORMANCE.md).
    return {**PRODUCER_SAFETY, "client_id": client_id, "linger_ms": 0, "request_timeout_ms": 30000}
