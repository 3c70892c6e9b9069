"""A worker starting while the broker restarts waits it out: also when the broker goes away in the middle of the
client's start (it accepted the first connection, then died), which once made a restarted consumer process exit."""

from __future__ import annotations

import asyncio
import socket

import pytest

from servicekit.messaging.kafka_config import KafkaStartupError, start_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listen(port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)


async def test_a_start_cut_short_by_a_vanishing_broker_is_run_again_once_it_listens() -> None:
    port = _free_port()
    servers = [await _listen(port)]  # the broker listens when the worker checks
    calls: list[str] = []

    async def back_later() -> None:
        await asyncio.sleep(0.6)
        servers.append(await _listen(port))

    async def start() -> None:
        calls.append("start")
        if calls.count("start") == 1:  # the broker dies during this start and comes back 0.6 s later
            servers[0].close()
            await servers[0].wait_closed()
            restarting.append(asyncio.create_task(back_later()))
            raise ConnectionRefusedError("Connect call failed")

    async def reset() -> None:
        calls.append("reset")

    restarting: list[asyncio.Task[None]] = []
    try:
        await start_client(start, f"127.0.0.1:{port}", None, what="test client", wait_s=10, reset=reset)
    finally:
        await asyncio.gather(*restarting)
        for server in servers:
            server.close()
    assert calls == ["start", "reset", "start"]
    assert len(servers) == 2  # the second start ran against the restarted listener


class FailingStart:
    """A client start that always fails with `error`, counting its calls."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        raise self.error


async def _no_reset() -> None:
    return None


async def test_without_reset_a_failed_start_is_final() -> None:
    start = FailingStart(ConnectionRefusedError("Connect call failed"))
    with pytest.raises(KafkaStartupError, match="connection refused"):
        await start_client(start, f"127.0.0.1:{_free_port()}", None, what="test client", wait_s=0.5)
    assert start.calls == 1


async def test_the_wait_ends_at_its_deadline_with_the_reason() -> None:
    start = FailingStart(ConnectionRefusedError("Connect call failed"))
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(KafkaStartupError, match="connection refused"):
        await start_client(start, f"127.0.0.1:{_free_port()}", None, what="test client", wait_s=1.0,
                           reset=_no_reset)
    assert 0.5 <= loop.time() - began < 5.0
    assert start.calls >= 1


async def test_a_failure_that_is_not_a_refusal_is_not_retried() -> None:
    port = _free_port()
    server = await _listen(port)
    start = FailingStart(RuntimeError("authentication failed"))
    try:
        with pytest.raises(KafkaStartupError):
            await start_client(start, f"127.0.0.1:{port}", None, what="test client", wait_s=10, reset=_no_reset)
    finally:
        server.close()
    assert start.calls == 1
