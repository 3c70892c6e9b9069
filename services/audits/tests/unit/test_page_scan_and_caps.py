"""HTML scanning, robots.txt reading, capped decoding, the pinned backend and the concurrency limiter."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import httpcore
import pytest

from audits.engine import AuditFailure, AuditLimiter, FailureKind
from audits.engine.checks import robots_blocks_everything
from audits.engine.decoding import CappedDecoder, DecodedTooLarge
from audits.engine.html import decode_html, scan_html
from audits.engine.ssrf import SsrfGuard
from audits.engine.transport import DialRefused, PinnedNetworkBackend


def test_scan_counts_what_the_checks_need() -> None:
    html = """<!doctype html><html lang="de"><head><title> Shop &amp; more </title>
    <meta name="description" content="  Hello   world ">
    <meta name="viewport" content="width=device-width">
    <meta property="og:title" content="x"><meta name="generator" content="WordPress 6.5">
    <script src="/a.js"></script><script src="/b.js" async></script><script type="module" src="/c.js"></script>
    <script>inline()</script><link rel="stylesheet" href="http://cdn.test/x.css"></head>
    <body><h1>A</h1><h1>B</h1><img src="http://cdn.test/a.png"><img alt="" src="/b.png">
    <img role="presentation" src="/c.png">
    <label>Name <input name="n"></label><input id="e" name="e"><label for="e">Email</label>
    <input name="orphan"><input type="hidden" name="h"><textarea aria-label="Msg"></textarea>
    <a href="/x">Text</a><a href="/y"><img src="/i.png" alt="Logo"></a><a href="/z"></a><a name="anchor"></a>
    <button aria-label="Close"></button><button></button></body></html>"""
    scan = scan_html(html)
    assert (scan.lang, scan.title, scan.meta_description) == ("de", "Shop & more", "Hello world")
    assert scan.h1_count == 2 and scan.viewport == "width=device-width"
    assert (scan.images, scan.images_missing_alt) == (4, 1)  # alt="" and role=presentation are decorative
    assert scan.blocking_scripts == 1
    assert (scan.form_fields, scan.unlabelled_fields) == (4, 1)
    assert (scan.controls, scan.unnamed_controls) == (5, 2)
    assert scan.insecure_resources == ["http://cdn.test/x.css", "http://cdn.test/a.png"]
    assert scan.cms == "WordPress" and scan.social_tags == ["og:title"]


def test_charset_is_taken_from_header_or_meta() -> None:
    assert decode_html("é".encode("latin-1"), "text/html; charset=ISO-8859-1") == "é"
    assert decode_html(b'<meta charset="windows-1252">\x80', "text/html") == '<meta charset="windows-1252">€'
    assert decode_html(b"\xff", "text/html; charset=nonsense") == "\ufffd"


@pytest.mark.parametrize(
    ("robots", "blocked"),
    [
        ("User-agent: *\nDisallow: /\n", True),
        ("User-agent: Googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /admin\n", False),
        ("User-agent: *\nDisallow:\n", False),
        ("User-agent: bingbot\nUser-agent: *\nDisallow: / # everything\n", True),
    ],
)
def test_robots_disallow_all_is_detected_for_the_star_group(robots: str, blocked: bool) -> None:
    assert robots_blocks_everything(robots) is blocked


def test_decoder_handles_gzip_zlib_and_raw_deflate() -> None:
    data = b"hello " * 1000
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = raw.compress(data) + raw.flush()
    for encoding, body in (("gzip", gzip.compress(data)), ("deflate", zlib.compress(data)), ("deflate", raw_deflate)):
        decoder = CappedDecoder(encoding, 10_000)
        assert b"".join(decoder.feed(body[i : i + 100]) for i in range(0, len(body), 100)) == data


def test_decoder_stops_a_bomb_after_the_cap_even_in_one_chunk() -> None:
    bomb = gzip.compress(bytes(50_000_000), compresslevel=9)
    decoder = CappedDecoder("gzip", 1_000_000)
    with pytest.raises(DecodedTooLarge):
        decoder.feed(bomb)


def test_decoder_stops_a_stacked_bomb() -> None:
    inner = gzip.compress(bytes(30_000_000), compresslevel=9)
    outer = gzip.compress(inner, compresslevel=9)
    with pytest.raises(DecodedTooLarge):
        CappedDecoder("gzip, gzip", 1_000_000).feed(outer)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip, gzip"])
def test_decoder_refuses_encodings_it_did_not_ask_for(encoding: str) -> None:
    with pytest.raises(AuditFailure) as failure:
        CappedDecoder(encoding, 100)
    assert failure.value.kind is FailureKind.BAD_RESPONSE


async def test_backend_refuses_hosts_the_guard_never_admitted() -> None:
    dialled: list[tuple[str, int]] = []

    async def dialer(ip: str, port: int, timeout: float | None) -> httpcore.AsyncNetworkStream:
        dialled.append((ip, port))
        raise AssertionError("must not dial")

    class NoDns:
        async def resolve(self, name: str) -> list[str]:
            raise AssertionError("no lookups here")

        async def txt(self, name: str) -> list[str]:
            return []

    backend = PinnedNetworkBackend(SsrfGuard(resolver=NoDns()), dialer)
    with pytest.raises(DialRefused):
        await backend.connect_tcp("127.0.0.1", 80)
    with pytest.raises(DialRefused):
        await backend.connect_unix_socket("/var/run/docker.sock")
    assert dialled == []


async def test_limiter_caps_global_and_per_domain_concurrency() -> None:
    limiter = AuditLimiter(max_total=3, max_per_domain=1)
    running: dict[str, int] = {}
    peak_per_domain: dict[str, int] = {}

    async def job(domain: str) -> None:
        async with limiter.slot(domain):
            running[domain] = running.get(domain, 0) + 1
            peak_per_domain[domain] = max(peak_per_domain.get(domain, 0), running[domain])
            await asyncio.sleep(0.01)
            running[domain] -= 1

    await asyncio.gather(*(job(d) for d in ["a.test"] * 5 + ["b.test", "c.test", "d.test", "e.test"] * 2))
    assert limiter.peak == 3
    assert max(peak_per_domain.values()) == 1
    assert limiter.tracked_domains == 0 and limiter.active == 0
