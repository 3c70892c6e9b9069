"""The readiness checks behind `/health/ready` (an API's: `servicekit.process.readiness`; a worker's:
`servicekit.process.worker_health`): what a process needs to serve answers.

Readiness distinguishes the checks that gate it (a failure answers 503, so the pod leaves its Service) from the
checks that are only reported (`informational`: a failure answers 200 with `"status": "degraded"`). An API
writes through the outbox, so it keeps serving while the broker is away: its broker check is informational
(servicekit.web.http). Every outcome is also the gauge `readiness_check_up{check}` (1 ok, 0 failed) for alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.messaging.kafka_config import KafkaSecurity, client_options, resolve
from servicekit.process.metrics import REGISTRY

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]

READINESS_UP = Gauge("readiness_check_up", "1 when the readiness check last succeeded, 0 when it failed.",
                     ["check"], registry=REGISTRY)


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


class KafkaProbe:
    """The broker readiness check: a metadata round trip on ONE admin client per process, started on the first
    probe and kept — a probe every few seconds must not cost a TCP+TLS+SASL handshake each time. A failed or
    timed-out probe drops the client; the next probe starts a fresh one (so a broker that comes back, or moved,
    is found again). `aclose()` on shutdown."""

    def __init__(self, bootstrap_servers: str, security: KafkaSecurity | None = None, *,
                 request_timeout_ms: int = 3000, client_id: str = "readiness") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.security = resolve(security)
        self.request_timeout_ms = request_timeout_ms
        self.client_id = client_id
        self.clients_started = 0  # how many admin clients this probe has made (observability, tests)
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self) -> None:
        admin = await self._client()
        try:
            await admin.list_topics()
        except BaseException:  # also a cancellation by the probe's timeout: that client is suspect
            self._discard(admin)
            raise

    async def _client(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is not None:
                return self._admin
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
                                        request_timeout_ms=self.request_timeout_ms,
                                        **client_options(self.security))
            self.clients_started += 1
            try:
                await admin.start()
            except BaseException:
                self._close_later(admin)
                raise
            self._admin = admin
            return admin

    def _discard(self, admin: AIOKafkaAdminClient) -> None:
        if self._admin is admin:
            self._admin = None
        self._close_later(admin)

    def _close_later(self, admin: AIOKafkaAdminClient) -> None:
        # Closed in its own task: the failing probe may be in the middle of being cancelled.
        task = asyncio.get_running_loop().create_task(_close_quietly(admin))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        async with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            await _close_quietly(admin)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _close_quietly(admin: AIOKafkaAdminClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(admin.close(), 5)


def kafka_check(bootstrap_servers: str, security: KafkaSecurity | None = None) -> KafkaProbe:
    """The broker check (a `KafkaProbe`: one reused admin client; close it with `aclose()`)."""
    return KafkaProbe(bootstrap_servers, security)


async def close_checks(checks: Iterable[ReadinessCheck]) -> None:
    """Closes the checks that hold clients (a `KafkaProbe`); the others hold nothing."""
    for check in checks:
        close = getattr(check, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


_last_outcome: dict[str, str] = {}


async def readiness(checks: Mapping[str, ReadinessCheck], *, timeout_s: float = 3.0,
                    informational: Collection[str] = ()) -> tuple[int, dict[str, Any]]:
    """(status code, body) of `/health/ready`: every check at once, each within `timeout_s`. 503 if a gating
    check fails; a failed `informational` check only makes it 200 `"status": "degraded"`, naming it under
    `"degraded"`."""

    async def outcome(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), timeout_s)
        except Exception as exc:  # readiness reports, it does not raise
            return f"error: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = dict(zip(names, await asyncio.gather(*(outcome(checks[name]) for name in names)), strict=True))
    for name, result in results.items():
        READINESS_UP.labels(check=name).set(1 if result == "ok" else 0)
        if _last_outcome.get(name, "ok") != result:
            log.log(logging.INFO if result == "ok" else logging.WARNING, "readiness check %s: %s", name, result,
                    extra={"fields": {"check": name, "result": result, "gating": name not in informational}})
        _last_outcome[name] = result
    failed = [name for name, result in results.items() if result != "ok"]
    gating = [name for name in failed if name not in informational]
    if gating:
        return 503, {"status": "unavailable", "checks": results}
    if failed:
        return 200, {"status": "degraded", "checks": results, "degraded": failed}
    return 200, {"status": "ok", "checks": results}
