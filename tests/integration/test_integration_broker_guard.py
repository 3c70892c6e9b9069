"""Every service's broker, as its bootstrap builds it, passes the kit's delivery-safety guard
(servicekit.messaging.guard): an idempotent `acks=all` producer, and no subscriber that acknowledges before it
handles. The guard itself is shown to catch each mistake in libs/kit/tests/integration/test_kit_consumer_delivery.py."""

from __future__ import annotations

import importlib

import pytest

from servicekit.messaging.guard import broker_violations


@pytest.mark.parametrize("service", ["leads", "audits", "writeback", "unibox"])
def test_the_services_broker_is_delivery_safe(service: str) -> None:
    runtime = importlib.import_module(f"{service}.bootstrap").bootstrap().runtime
    broker = runtime.get_broker()
    assert broker_violations(broker) == []
