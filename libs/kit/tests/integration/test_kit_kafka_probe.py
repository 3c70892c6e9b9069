"""The broker readiness probe on the real (shared) broker: ONE admin client per process, kept across probes;
a failed probe drops its client, and the next good one makes exactly one new client; `aclose()` closes it.

"Closed, then good" at the same address is a loopback TCP forwarder to the shared broker, switched on only
after the failures: the probe bootstraps through it (the shared broker itself is never touched)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from servicekit.process.readiness import KafkaProbe, readiness

pytestmark = pytest.mark.kafka

PROBES = 10


class Forwarder:
    """127.0.0.1:<port> → the broker's bootstrap address, while `start()`ed."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        pipes = {asyncio.create_task(_pipe(reader, up_writer)), asyncio.create_task(_pipe(up_reader, writer))}
        self._pipes |= pipes
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            w.close()
        self._pipes -= pipes

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def test_many_probes_share_one_admin_client(kafka_bootstrap: str) -> None:
    probe = KafkaProbe(kafka_bootstrap)
    try:
        for _ in range(PROBES):
            status, body = await readiness({"kafka": probe})
            assert (status, body["checks"]["kafka"]) == (200, "ok"), body
        assert probe.clients_started == 1
        client = probe._admin
        assert client is not None and not client._closed
    finally:
        await probe.aclose()
    assert client._closed, "aclose() left the admin client open"
    assert probe._admin is None


async def test_failures_drop_the_client_and_one_good_probe_makes_exactly_one_new_one(kafka_bootstrap: str) -> None:
    forwarder = Forwarder(kafka_bootstrap)
    probe = KafkaProbe(forwarder.address, request_timeout_ms=1000)
    try:
        for attempt in range(1, 4):  # nothing listens yet: every probe fails and keeps nothing
            status, body = await readiness({"kafka": probe}, timeout_s=3)
            assert status == 503 and body["checks"]["kafka"] != "ok", body
            assert probe.clients_started == attempt and probe._admin is None
        failures = probe.clients_started

        await forwarder.start()  # the broker is reachable at the same address now
        for _ in range(PROBES):
            status, body = await readiness({"kafka": probe})
            assert (status, body["checks"]["kafka"]) == (200, "ok"), body
        assert probe.clients_started == failures + 1  # one new client, kept for every later probe
        client = probe._admin
        assert client is not None
    finally:
        await probe.aclose()
        await forwarder.aclose()
    assert client._closed and probe._admin is None


async def test_a_probe_that_times_out_drops_its_client(kafka_bootstrap: str) -> None:
    """A probe cancelled by readiness' timeout leaves a suspect client behind it: the next probe starts anew."""
    probe = KafkaProbe(kafka_bootstrap)
    try:
        assert (await readiness({"kafka": probe}))[0] == 200
        assert probe.clients_started == 1
        first = probe._admin
        status, body = await readiness({"kafka": probe}, timeout_s=0.000001)
        assert status == 503 and body["checks"]["kafka"] == "error: TimeoutError", body
        assert probe._admin is None
        assert (await readiness({"kafka": probe}))[0] == 200
        assert probe.clients_started == 2 and probe._admin is not first
    finally:
        await probe.aclose()
    assert first is not None and first._closed
