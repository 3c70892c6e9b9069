"""The one place producer and consumer safety settings are chosen (checked by the guard test)."""

from __future__ import annotations

from typing import Any

# Idempotent producer with acknowledgement from every in-sync replica: a retried send never duplicates
# and an acknowledged send survives a broker crash.
PRODUCER_SAFETY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}


def producer_options(client_id: str) -> dict[str, Any]:
    return {**PRODUCER_SAFETY, "client_id": client_id, "linger_ms": 5, "request_timeout_ms": 30000}
