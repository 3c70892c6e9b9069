"""A small HTTP/1.1 keep-alive load generator on asyncio streams (much cheaper per request than httpx, so
the generator steals less of the 2 cores from the server it measures).

`open_model`: requests are scheduled on a clock at a fixed rate and never wait for earlier responses;
latency is measured from the SCHEDULED time (no coordinated omission). `closed_model`: N workers back to
back, for peak throughput."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status


@dataclass
class Pool:
    base_url: str
    headers: dict[str, str]
    idle: list[Conn] = field(default_factory=list)
    opened: int = 0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def request(self, path: str) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode()

    async def get(self, path: str) -> int:
        while self.idle:
            conn = self.idle.pop()
            try:
                status = await conn.get(self.request(path))
            except (asyncio.IncompleteReadError, ConnectionError):
                conn.writer.close()  # the server closed an idle keep-alive connection: use another one
                continue
            self.idle.append(conn)
            return status
        reader, writer = await asyncio.open_connection(self.host, self.port)
        conn = Conn(reader, writer)
        self.opened += 1
        try:
            status = await conn.get(self.request(path))
        except BaseException:
            conn.writer.close()
            raise
        self.idle.append(conn)
        return status

    async def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()


@dataclass
class Result:
    latencies_s: list[float]
    statuses: dict[int, int]
    errors: int
    elapsed_s: float

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300) + self.errors


def settle_generator_heap() -> None:
    """Moves every object alive now (fixture rows, the picked ids: hundreds of thousands) out of the garbage
    collector's generations. Otherwise a full collection of the GENERATOR's heap — ~0.1 s, measured, at
    the same moment of whichever phase ran first after the fixtures — shows up as server latency of every
    request in flight (that was most of the read API's p99 at 200 req/s)."""
    gc.collect()
    gc.freeze()


async def open_model(pool: Pool, path_for: Callable[[int], str], *, rate: float, seconds: float) -> Result:
    settle_generator_heap()
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors
        try:
            status = await asyncio.wait_for(pool.get(path_for(i)), 30)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(time.perf_counter() - due)
        except Exception:
            errors += 1

    tasks = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return Result(latencies, statuses, errors, time.perf_counter() - start)


async def closed_model(pool: Pool, path_for: Callable[[int], str], *, workers: int, seconds: float) -> Result:
    settle_generator_heap()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    stop_at = time.perf_counter() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal errors, counter
        while time.perf_counter() < stop_at:
            counter += 1
            t = time.perf_counter()
            try:
                status = await asyncio.wait_for(pool.get(path_for(counter)), 30)
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(time.perf_counter() - t)
            except Exception:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return Result(latencies, statuses, errors, time.perf_counter() - start)
