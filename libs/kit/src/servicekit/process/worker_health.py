"""`/health/live` and `/health/ready` for a worker process (consumers, relay, delivery worker, ...).

A minimal HTTP/1.1 responder (`asyncio.start_server`) on the worker's own event loop, so an answer at all
proves the loop is responsive (a blocked loop makes the probe time out). No framework, no signal handlers
of its own: the worker's `stop` event (SIGTERM) closes it.

- `/health/live`: 200 while every loop task runs; 503 naming the loop that finished or raised while `stop`
  is not set. Never touches the database or the broker: an outage of either must not restart the pods.
- `/health/ready`: the API's readiness checks (`servicekit.process.readiness.database_check`, `kafka_check`), but here
  the broker gates readiness too (see `readiness_checks`).
- `/metrics`: the process's Prometheus metrics (`servicekit.process.metrics.process_metrics`: its consumers' counters
  and lag, its PlusVibe calls, the process collectors), on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.process.metrics import process_metrics
from servicekit.process.readiness import ReadinessCheck, close_checks, database_check, kafka_check, readiness
from servicekit.process.settings import ServiceSettings

log = logging.getLogger(__name__)

# A probe's request is one short line plus a few headers; anything slower or larger is dropped.
_READ_TIMEOUT_S = 2.0
_MAX_HEADER_LINES = 100


def readiness_checks(engine: AsyncEngine, settings: ServiceSettings) -> dict[str, ReadinessCheck]:
    """A worker's readiness checks: its database and its broker, BOTH gating (unlike an API's, where the broker
    is only reported). A worker exists to consume or relay: without the broker it does nothing useful, and no
    Service routes traffic to it, so "not ready" costs nothing while the broker is away — but it makes a
    rollout wait (new pods that cannot reach the broker do not replace old ones) and shows the outage in
    `kubectl get pods`. Liveness never looks at the broker, so an outage restarts nothing. The broker check
    holds one admin client for the process, closed with the health server."""
    return {"database": database_check(engine),
            "kafka": kafka_check(settings.kafka_bootstrap_servers, settings.kafka_security)}


def loop_state(task: asyncio.Task[Any], stopping: bool) -> tuple[bool, str]:
    """(alive, description) of one loop task; a loop that ends once `stop` is set is shutting down, not dead."""
    if not task.done():
        return True, "running"
    if stopping:
        return True, "stopped"
    if task.cancelled():
        return False, "cancelled"
    exc = task.exception()
    if exc is not None:
        return False, f"failed: {type(exc).__name__}"
    return False, "exited"


class WorkerHealth:
    """What the endpoints answer: the state of the loop tasks and the result of the readiness checks."""

    def __init__(self, loops: Mapping[str, asyncio.Task[Any]], checks: Mapping[str, ReadinessCheck],
                 stop: asyncio.Event, *, check_timeout_s: float = 3.0) -> None:
        self.loops = loops
        self.checks = checks
        self.stop = stop
        self.check_timeout_s = check_timeout_s

    def live(self) -> tuple[int, dict[str, Any]]:
        states = {name: loop_state(task, self.stop.is_set()) for name, task in self.loops.items()}
        ok = all(alive for alive, _ in states.values())
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable",
                                "loops": {name: text for name, (_, text) in states.items()}}
        if not ok:
            body["dead"] = sorted(name for name, (alive, _) in states.items() if not alive)
        return (200 if ok else 503), body

    async def ready(self) -> tuple[int, dict[str, Any]]:
        return await readiness(self.checks, timeout_s=self.check_timeout_s)


class WorkerHealthServer:
    """The listening socket; closes itself once `stop` is set (or on `aclose()`)."""

    def __init__(self, health: WorkerHealth, server: asyncio.Server) -> None:
        self.health = health
        self._server = server
        self._closer = asyncio.create_task(self._close_on_stop())

    @property
    def port(self) -> int:
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _close_on_stop(self) -> None:
        await self.health.stop.wait()
        self._server.close()
        await self._server.wait_closed()
        await close_checks(self.health.checks.values())

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closer)

    async def aclose(self) -> None:
        self._closer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._closer
        self._server.close()
        await self._server.wait_closed()
        await close_checks(self.health.checks.values())


async def start_health_server(health: WorkerHealth, host: str, port: int) -> WorkerHealthServer:
    """Listens on `host:port` (port 0: any free port, see `WorkerHealthServer.port`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, payload = await _answer(health, reader)
            reason = HTTPStatus(status).phrase
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a probe that hung up or sent garbage gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    return WorkerHealthServer(health, server)


async def _answer(health: WorkerHealth, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
    async with asyncio.timeout(_READ_TIMEOUT_S):
        request_line = (await reader.readline()).decode("latin-1")
        for _ in range(_MAX_HEADER_LINES):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _json(400, {"status": "bad request"})
    method, target = parts[0], parts[1].split("?", 1)[0]
    if target not in ("/health/live", "/health/ready", "/metrics"):
        return _json(404, {"status": "not found"})
    if method != "GET":
        return _json(405, {"status": "method not allowed"})
    if target == "/metrics":
        return 200, CONTENT_TYPE_LATEST, process_metrics()
    return _json(*(health.live() if target == "/health/live" else await health.ready()))


def _json(status: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


async def start_worker_health(settings: ServiceSettings, loops: Mapping[str, asyncio.Task[Any]],
                              checks: Mapping[str, ReadinessCheck],
                              stop: asyncio.Event) -> WorkerHealthServer | None:
    """The worker's health server on `settings.worker_health_host:worker_health_port`; None when no port is
    configured (the default: several local workers on one machine must not clash)."""
    if not settings.worker_health_port:
        return None
    server = await start_health_server(WorkerHealth(loops, checks, stop), settings.worker_health_host,
                                       settings.worker_health_port)
    log.info("worker health endpoints listening",
             extra={"fields": {"host": settings.worker_health_host, "port": server.port}})
    return server
