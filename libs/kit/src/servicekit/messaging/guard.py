"""Inspects a configured broker for delivery-safety mistakes: an ack-first subscriber (at-most-once), a subscriber
without a consumer group, a producer that is not `acks=all` + idempotent (every service's broker is checked by
tests/integration/test_integration_broker_guard.py). The kit's own subscribers (`servicekit.messaging.subscriber`)
commit after the batch's transaction by construction; a FastStream subscriber registered on the broker is checked for
its ack policy."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy


def broker_violations(broker: KafkaBroker) -> list[str]:
    problems: list[str] = []
    params: dict[str, Any] = dict(getattr(broker, "_connection_kwargs", {}))
    if params.get("acks") not in ("all", -1):
        problems.append(f"producer acks={params.get('acks')!r}, want 'all'")
    if params.get("enable_idempotence") is not True:
        problems.append("producer is not idempotent")
    for sub in broker.subscribers:
        name = getattr(sub, "group_id", None) or repr(sub)
        policy = getattr(sub, "ack_policy", None)
        if policy in (AckPolicy.ACK_FIRST, None):
            problems.append(f"subscriber {name} acknowledges before handling ({policy})")
        if policy is AckPolicy.MANUAL:
            problems.append(f"subscriber {name} uses MANUAL acks; the kit's policy is NACK_ON_ERROR")
        if not getattr(sub, "group_id", None):
            problems.append(f"subscriber {sub!r} has no consumer group (offsets would never be committed)")
    for kit_sub in getattr(broker, "kit_subscribers", ()):
        if not kit_sub.group_id:
            problems.append(f"subscriber of {kit_sub.topic} has no consumer group (offsets would never be committed)")
    return problems
