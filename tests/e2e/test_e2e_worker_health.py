"""Every worker process of the running system (each service's consumers and relay) answers its health endpoints:
the same probes the Kubernetes worker Deployments and compose healthchecks use."""

from __future__ import annotations

import httpx
import pytest
from e2e_testkit import E2E

from outreach_local.system import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

EXPECTED_LOOPS = {
    ("leads", "consumers"): {"consumers"}, ("leads", "relay"): {"relay"},
    ("audits", "consumers"): {"consumers", "audit-worker"}, ("audits", "relay"): {"relay"},
    ("writeback", "consumers"): {"consumers", "delivery"}, ("writeback", "relay"): {"relay"},
    ("unibox", "consumers"): {"consumers", "periodic-jobs"}, ("unibox", "relay"): {"relay"},
}


async def test_every_worker_is_live_with_its_loops_and_ready(e2e: E2E) -> None:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for service in SERVICES:
            for role in ("consumers", "relay"):
                base = f"http://127.0.0.1:{e2e.config.worker_health_port(service, role)}"
                live = await client.get(f"{base}/health/live")
                ready = await client.get(f"{base}/health/ready")
                assert live.status_code == 200, (service, role, live.text)
                loops = live.json()["loops"]
                assert EXPECTED_LOOPS[(service, role)] <= set(loops), (service, role, loops)
                assert set(loops.values()) == {"running"}, (service, role, loops)
                assert ready.status_code == 200, (service, role, ready.text)
                assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
                assert (await client.get(f"{base}/elsewhere")).status_code == 404
