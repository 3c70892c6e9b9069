"""The worker health server: liveness follows the loop tasks, readiness the checks, and it stops with `stop`."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.messaging.uow import UnitOfWork
from servicekit.process import runtime as runtime_module
from servicekit.process.readiness import ReadinessCheck
from servicekit.process.runtime import ServiceRuntime, serve_worker
from servicekit.process.settings import ServiceSettings
from servicekit.process.worker_health import (
    WorkerHealth,
    WorkerHealthServer,
    readiness_checks,
    start_health_server,
    start_worker_health,
)


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 2)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 ")
    return int(status_line.split()[1]), json.loads(body)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def ok_check() -> ReadinessCheck:
    async def check() -> None:
        return None

    return check


def failing_check() -> ReadinessCheck:
    async def check() -> None:
        raise ConnectionRefusedError("database down")

    return check


def hanging_check() -> ReadinessCheck:
    async def check() -> None:
        await asyncio.sleep(60)

    return check


async def run_until(stop: asyncio.Event) -> None:
    await stop.wait()


class Worker:
    """Two loops (consumers, relay) that run until `stop`, plus the health server on an ephemeral port."""

    def __init__(self, stop: asyncio.Event, loops: dict[str, asyncio.Task[None]], server: WorkerHealthServer) -> None:
        self.stop, self.loops, self.server = stop, loops, server


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    stop = asyncio.Event()
    loops = {"consumers": asyncio.create_task(run_until(stop)), "relay": asyncio.create_task(run_until(stop))}
    checks = {"database": ok_check(), "kafka": ok_check()}
    server = await start_health_server(WorkerHealth(loops, checks, stop), "127.0.0.1", 0)
    yield Worker(stop, loops, server)
    stop.set()
    await server.aclose()
    for task in loops.values():
        task.cancel()
    await asyncio.gather(*loops.values(), return_exceptions=True)


async def test_live_is_ok_while_every_loop_runs(worker: Worker) -> None:
    status, body = await get(worker.server.port, "/health/live")
    assert status == 200
    assert body == {"status": "ok", "loops": {"consumers": "running", "relay": "running"}}


async def test_live_names_the_loop_that_raised(worker: Worker) -> None:
    async def crash() -> None:
        raise RuntimeError("relay broke")

    worker.loops["relay"] = asyncio.create_task(crash())
    await asyncio.gather(worker.loops["relay"], return_exceptions=True)
    status, body = await get(worker.server.port, "/health/live")
    assert status == 503
    assert body["loops"] == {"consumers": "running", "relay": "failed: RuntimeError"}
    assert body["dead"] == ["relay"]


async def test_live_fails_when_a_loop_returns_before_stop(worker: Worker) -> None:
    async def quit_early() -> None:
        return None

    worker.loops["consumers"] = asyncio.create_task(quit_early())
    await worker.loops["consumers"]
    status, body = await get(worker.server.port, "/health/live")
    assert status == 503
    assert body["loops"]["consumers"] == "exited"
    assert body["dead"] == ["consumers"]


async def test_live_never_runs_the_readiness_checks() -> None:
    stop = asyncio.Event()
    calls: list[str] = []

    async def counted() -> None:
        calls.append("check")
        raise ConnectionRefusedError

    loop_task = asyncio.create_task(run_until(stop))
    server = await start_health_server(WorkerHealth({"consumers": loop_task}, {"kafka": counted}, stop),
                                       "127.0.0.1", 0)
    try:
        assert (await get(server.port, "/health/live"))[0] == 200
        assert calls == []
        assert (await get(server.port, "/health/ready"))[0] == 503
        assert calls == ["check"]
    finally:
        stop.set()
        await server.aclose()
        await loop_task


async def test_ready_is_ok_when_every_check_passes(worker: Worker) -> None:
    status, body = await get(worker.server.port, "/health/ready")
    assert status == 200
    assert body == {"status": "ok", "checks": {"database": "ok", "kafka": "ok"}}


async def test_ready_reports_a_failing_and_a_hanging_check() -> None:
    stop = asyncio.Event()
    checks = {"database": failing_check(), "kafka": hanging_check(), "other": ok_check()}
    server = await start_health_server(WorkerHealth({}, checks, stop, check_timeout_s=0.2), "127.0.0.1", 0)
    try:
        status, body = await get(server.port, "/health/ready")
    finally:
        stop.set()
        await server.wait_closed()
    assert status == 503
    assert body == {"status": "unavailable", "checks": {"database": "error: ConnectionRefusedError",
                                                        "kafka": "error: TimeoutError", "other": "ok"}}


async def test_ready_reuses_the_api_database_and_kafka_checks() -> None:
    """The real checks: an in-memory SQLite answers, a broker address where nothing listens does not."""
    dead_port = free_loopback_port()  # closed again before the check runs: nothing listens there
    engine = create_async_engine("sqlite+aiosqlite://")
    settings = ServiceSettings(kafka_bootstrap_servers=f"127.0.0.1:{dead_port}")
    stop = asyncio.Event()
    server = await start_health_server(WorkerHealth({}, readiness_checks(engine, settings), stop,
                                                    check_timeout_s=1.0), "127.0.0.1", 0)
    try:
        status, body = await get(server.port, "/health/ready")
    finally:
        stop.set()
        await server.wait_closed()
        await engine.dispose()
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["kafka"].startswith("error: ")


@pytest.mark.parametrize("path", ["/", "/health", "/health/live/x", "/metrics/x"])
async def test_other_paths_are_not_found(worker: Worker, path: str) -> None:
    status, _ = await get(worker.server.port, path)
    assert status == 404


async def test_other_methods_are_refused(worker: Worker) -> None:
    status, _ = await get(worker.server.port, "/health/live", method="POST")
    assert status == 405


async def test_a_garbled_request_gets_bad_request(worker: Worker) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.server.port)
    writer.write(b"nonsense\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 2)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 400 ")


async def test_server_stops_listening_once_stop_is_set(worker: Worker) -> None:
    port = worker.server.port
    assert (await get(port, "/health/live"))[0] == 200
    worker.stop.set()
    await asyncio.wait_for(worker.server.wait_closed(), 2)
    await asyncio.gather(*worker.loops.values())
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_loops_ending_after_stop_count_as_stopped_not_dead() -> None:
    stop = asyncio.Event()
    loop_task = asyncio.create_task(run_until(stop))
    health = WorkerHealth({"relay": loop_task}, {}, stop)
    stop.set()
    await loop_task
    assert health.live() == (200, {"status": "ok", "loops": {"relay": "stopped"}})


@pytest.mark.parametrize("port", [None, 0])
async def test_no_server_without_a_configured_port(port: int | None) -> None:
    settings = ServiceSettings(worker_health_port=port)
    assert await start_worker_health(settings, {}, {}, asyncio.Event()) is None


async def test_settings_port_and_host_start_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    free_port = free_loopback_port()
    monkeypatch.setenv("SERVICE_WORKER_HEALTH_PORT", str(free_port))
    monkeypatch.setenv("SERVICE_WORKER_HEALTH_HOST", "127.0.0.1")
    settings = ServiceSettings()
    assert settings.worker_health_port == free_port
    stop = asyncio.Event()
    loop_task = asyncio.create_task(run_until(stop))
    server = await start_worker_health(settings, {"consumers": loop_task}, {}, stop)
    assert server is not None
    try:
        assert server.port == free_port
        assert await get(free_port, "/health/live") == (200, {"status": "ok", "loops": {"consumers": "running"}})
    finally:
        stop.set()
        await server.wait_closed()
        await loop_task


def test_the_default_settings_start_no_server() -> None:
    settings = ServiceSettings()
    assert settings.worker_health_port is None
    assert settings.worker_health_host == "127.0.0.1"



async def test_serve_worker_watches_its_own_loops_and_closes_on_stop(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """serve_worker's consumers and relay tasks are what liveness reports: a relay that returns while the
    consumers still run turns /health/live into 503 naming it; stop ends the worker and closes the port."""
    stop = asyncio.Event()

    async def consumers(runtime: Any, stop: asyncio.Event) -> None:
        await stop.wait()

    async def relay_returns_early(runtime: Any, stop: asyncio.Event) -> None:
        return None

    monkeypatch.setattr(runtime_module, "stop_event_on_signals", lambda: stop)
    monkeypatch.setattr(runtime_module, "configure_tracing", lambda name: None)
    monkeypatch.setattr(runtime_module, "run_consumers_until_stopped", consumers)
    monkeypatch.setattr(runtime_module, "run_relay_until_stopped", relay_returns_early)
    port = free_loopback_port()
    settings = ServiceSettings(data_dir=tmp_path, worker_health_port=port, log_json=False,
                               kafka_bootstrap_servers=f"127.0.0.1:{free_loopback_port()}")
    runtime = ServiceRuntime.create(settings, UnitOfWork, migrations=None)
    worker = asyncio.create_task(serve_worker(runtime, consumers=True, relay=True))
    try:
        for _ in range(100):  # the server opens once the loops are started
            try:
                status, body = await get(port, "/health/live")
                break
            except OSError:
                await asyncio.sleep(0.02)
        else:
            raise AssertionError("the worker health server never opened")
        assert status == 503
        assert body["loops"] == {"consumers": "running", "relay": "exited"}
        status, body = await get(port, "/health/ready")
        assert status == 503  # nothing listens at the broker address
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["kafka"].startswith("error: ")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
