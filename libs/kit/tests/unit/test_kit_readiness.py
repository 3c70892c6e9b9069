"""`servicekit.process.readiness.readiness`: gating checks answer 503, `informational` ones only 200 "degraded"; every
outcome is the gauge readiness_check_up. And a `KafkaProbe` that cannot reach a broker keeps no client."""

from __future__ import annotations

import asyncio
import socket

import httpx
from fastapi import FastAPI

from servicekit.process.metrics import REGISTRY
from servicekit.process.readiness import KafkaProbe, ReadinessCheck, readiness
from servicekit.web.health import health_router


def ok() -> ReadinessCheck:
    async def check() -> None:
        return None

    return check


def failing() -> ReadinessCheck:
    async def check() -> None:
        raise ConnectionRefusedError("away")

    return check


def hanging() -> ReadinessCheck:
    async def check() -> None:
        await asyncio.sleep(60)

    return check


def gauge(check: str) -> float | None:
    return REGISTRY.get_sample_value("readiness_check_up", {"check": check})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the socket is closed


async def test_everything_ok_is_200_ok() -> None:
    status, body = await readiness({"database": ok(), "kafka": ok()}, informational={"kafka"})
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok", "kafka": "ok"}})
    assert gauge("database") == 1 and gauge("kafka") == 1


async def test_a_failing_informational_check_is_200_degraded_naming_it() -> None:
    status, body = await readiness({"database": ok(), "kafka": failing()}, informational={"kafka"})
    assert status == 200
    assert body == {"status": "degraded", "checks": {"database": "ok", "kafka": "error: ConnectionRefusedError"},
                    "degraded": ["kafka"]}
    assert gauge("database") == 1 and gauge("kafka") == 0


async def test_a_hanging_informational_check_times_out_into_degraded_not_a_hang() -> None:
    started = asyncio.get_running_loop().time()
    status, body = await readiness({"database": ok(), "kafka": hanging()}, timeout_s=0.2, informational={"kafka"})
    assert asyncio.get_running_loop().time() - started < 2
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["kafka"] == "error: TimeoutError"


async def test_a_failing_gating_check_is_503_whatever_the_informational_ones_say() -> None:
    status, body = await readiness({"database": failing(), "kafka": ok()}, informational={"kafka"})
    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"] == {"database": "error: ConnectionRefusedError", "kafka": "ok"}
    assert gauge("database") == 0 and gauge("kafka") == 1

    status, body = await readiness({"database": failing(), "kafka": failing()}, informational={"kafka"})
    assert (status, body["status"]) == (503, "unavailable")
    assert "degraded" not in body


async def test_without_informational_checks_every_failure_gates() -> None:
    """A worker's readiness (servicekit.process.worker_health): the broker gates too."""
    status, body = await readiness({"database": ok(), "kafka": failing()})
    assert (status, body["status"]) == (503, "unavailable")


async def test_the_health_router_answers_what_readiness_says() -> None:
    app = FastAPI()
    app.include_router(health_router({"database": ok(), "kafka": failing()}, informational={"kafka"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/health/ready")
        assert r.status_code == 200 and r.json()["status"] == "degraded"
        assert (await client.get("/health/live")).json() == {"status": "ok"}
    gating = FastAPI()
    gating.include_router(health_router({"database": failing(), "kafka": ok()}, informational={"kafka"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gating), base_url="http://t") as client:
        assert (await client.get("/health/ready")).status_code == 503


async def test_a_probe_that_cannot_reach_the_broker_fails_and_keeps_no_client() -> None:
    probe = KafkaProbe(f"127.0.0.1:{closed_port()}", request_timeout_ms=1000)
    try:
        for attempt in range(1, 4):
            status, body = await readiness({"kafka": probe}, timeout_s=3)
            assert status == 503 and body["checks"]["kafka"].startswith("error: "), body
            assert probe.clients_started == attempt  # each failure dropped the client: the next makes another
            assert probe._admin is None
    finally:
        await probe.aclose()
    assert not probe._closing  # the failed clients' closes were awaited
