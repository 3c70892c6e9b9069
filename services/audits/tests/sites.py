"""Loopback test sites for the audit engine: a tiny asyncio HTTP/1.1 server (plain or TLS on
127.0.0.1, random port) with scripted replies, a fake resolver and a connect spy.

Nothing here ever opens a socket to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import socket
import ssl
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpcore
import trustme

from audits.domain.profile import derive_profile
from audits.domain.result import AuditResult
from audits.engine import AuditEngineSettings, Ports, run_audit
from audits.engine.resolver import ResolutionError
from audits.engine.transport import default_dialer


@dataclass
class Reply:
    """A scripted HTTP response."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    gzip: bool = False
    stream: Callable[[], AsyncIterator[bytes]] | None = None


Route = Reply | Callable[[str], Reply]


@dataclass
class Request:
    method: str
    path: str
    host: str


class LoopbackSite:
    """An HTTP/1.1 server on 127.0.0.1 that answers from `routes` (path -> Reply) and counts
    every connection and request it sees."""

    def __init__(self, routes: dict[str, Route] | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = routes or {}
        self.tls = tls
        self.connections = 0
        self.requests: list[Request] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def hits(self) -> int:
        return self.connections + len(self.requests)

    async def start(self) -> LoopbackSite:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            path = target.split("?", 1)[0]
            self.requests.append(Request(method, path, headers.get("host", "")))
            route = self.routes.get(path)
            reply = (
                Reply(404, {"Content-Type": "text/plain"}, b"not found")
                if route is None
                else (route(path) if callable(route) else route)
            )
            await self._respond(writer, reply)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 0.5)

    async def _respond(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        headers = dict(reply.headers)
        body = reply.body
        if reply.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if reply.stream is None:
            headers.setdefault("Content-Length", str(len(body)))
        headers["Connection"] = "close"
        head = f"HTTP/1.1 {reply.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        if reply.stream is None:
            writer.write(body)
            await writer.drain()
            return
        async for chunk in reply.stream():
            writer.write(chunk)
            await writer.drain()


class FakeResolver:
    """Answers from a table (or a per-call script) and counts lookups; never touches real DNS."""

    def __init__(
        self,
        addresses: Mapping[str, Sequence[str] | Sequence[Sequence[str]]] | None = None,
        txt: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.addresses = dict(addresses or {})
        self.txt_records = dict(txt or {})
        self.calls: Counter[str] = Counter()

    async def resolve(self, name: str) -> list[str]:
        self.calls[name] += 1
        answer = self.addresses.get(name)
        if not answer:
            raise ResolutionError(f"NXDOMAIN {name}")
        if not isinstance(answer[0], str):  # scripted: a different answer on each call
            step = answer[min(self.calls[name], len(answer)) - 1]
            return [str(a) for a in step]
        return [str(a) for a in answer]

    async def txt(self, name: str) -> list[str]:
        self.calls[f"TXT {name}"] += 1
        return list(self.txt_records.get(name, []))


class ConnectSpy:
    """Records every dial; lets loopback dials through and stops anything else before a socket."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, ip: str, port: int, timeout: float | None) -> httpcore.AsyncNetworkStream:
        self.calls.append((ip, port))
        if not ipaddress.ip_address(ip).is_loopback:
            try:
                raise ConnectionRefusedError(f"connect spy stopped a dial to {ip}:{port}")
            except ConnectionRefusedError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        return await default_dialer(ip, port, timeout)


def gzip_bomb(decoded_mb: int) -> bytes:
    """A gzip stream of `decoded_mb` MiB of zeros (about 1000:1), built without holding it decoded."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_mb)]
    parts.append(compressor.flush())
    return b"".join(parts)


async def trickle(chunks: int, every_s: float, chunk: bytes = b"<p>x</p>") -> AsyncIterator[bytes]:
    for _ in range(chunks):
        yield chunk
        await asyncio.sleep(every_s)


def html_page(
    *,
    title: str | None = "Acme Plumbing - Emergency plumbers in Leeds",
    description: str | None = (
        "Acme Plumbing fixes leaks, boilers and blocked drains across Leeds, 24 hours a day, with fixed prices."
    ),
    h1s: int = 1,
    viewport: str | None = "width=device-width, initial-scale=1",
    lang: str | None = "en",
    images_with_alt: int = 2,
    images_without_alt: int = 0,
    head_extra: str = "",
    body_extra: str = "",
) -> bytes:
    """A homepage that passes every check unless told otherwise."""
    head = ['<meta charset="utf-8">']
    if title is not None:
        head.append(f"<title>{title}</title>")
    if description is not None:
        head.append(f'<meta name="description" content="{description}">')
    if viewport is not None:
        head.append(f'<meta name="viewport" content="{viewport}">')
    head.append('<link rel="canonical" href="https://good.test/">')
    head.append('<script src="/app.js" defer></script>')
    head.append(head_extra)
    body = [f"<h1>Heading {i}</h1>" for i in range(h1s)]
    body += [f'<img src="/i{i}.png" alt="Van {i}">' for i in range(images_with_alt)]
    body += [f'<img src="/n{i}.png">' for i in range(images_without_alt)]
    body.append('<form><label for="q">Postcode</label><input id="q" name="q"><button>Search</button></form>')
    body.append('<a href="/contact">Contact us</a>')
    body.append(body_extra)
    lang_attr = f' lang="{lang}"' if lang else ""
    return f"<!doctype html><html{lang_attr}><head>{''.join(head)}</head><body>{''.join(body)}</body></html>".encode()


SECURE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Strict-Transport-Security": "max-age=31536000",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "public, max-age=600",
}

ROBOTS = Reply(200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
SITEMAP = Reply(
    200,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<url><loc>https://good.test/</loc></url></urlset>",
)


def good_routes(page: bytes | None = None, /, **overrides: Route) -> dict[str, Route]:
    routes: dict[str, Route] = {
        "/": Reply(200, dict(SECURE_HEADERS), page if page is not None else html_page(), gzip=True),
        "/robots.txt": ROBOTS,
        "/sitemap.xml": SITEMAP,
    }
    routes.update(overrides)
    return routes


REPORT_URL = "https://reports.outreach.test/r/3f9c2b7d1e8a4c6b"
GOOD_TXT = {"good.test": ["v=spf1 include:_spf.good.test -all"], "_dmarc.good.test": ["v=DMARC1; p=reject"]}


def free_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def server_context(
    ca: trustme.CA, *hosts: str, not_after: datetime, not_before: datetime | None = None
) -> ssl.SSLContext:
    cert = ca.issue_cert(
        *hosts,
        not_before=(not_before or not_after - timedelta(days=800)).replace(tzinfo=None),
        not_after=not_after.replace(tzinfo=None),
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@dataclass
class Deployment:
    """One test website: an https site and an http site for `name`, both on 127.0.0.1."""

    name: str
    https: LoopbackSite | None
    http: LoopbackSite | None
    https_port: int
    http_port: int
    ca_file: Path

    def settings(self, **overrides: Any) -> AuditEngineSettings:
        values: dict[str, Any] = {
            "allowlist": [f"127.0.0.1:{self.https_port}", f"127.0.0.1:{self.http_port}"],
            "ports": {self.name: Ports(https=self.https_port, http=self.http_port)},
            "ca_file": self.ca_file,
            "request_timeout_s": 3.0,
            "total_budget_s": 8.0,
        }
        values.update(overrides)
        return AuditEngineSettings(**values)


Deploy = Callable[..., Awaitable[Deployment]]


async def audit(
    deployment: Deployment,
    resolver: FakeResolver,
    now: datetime,
    spy: ConnectSpy | None = None,
    **settings: Any,
) -> tuple[AuditResult, dict[str, str]]:
    result = await run_audit(
        deployment.name,
        settings=deployment.settings(**settings),
        resolver=resolver,
        report_url=REPORT_URL,
        now=now,
        dialer=spy,
    )
    return result, derive_profile(result)
