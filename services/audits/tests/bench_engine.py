"""Benchmark (prints figures; not collected by pytest): engine overhead over a raw httpx GET of the
same loopback site, and 100 concurrent audits of slow loopback sites (RSS, event-loop lag).

Run: .venv/bin/python services/audits/tests/bench_engine.py
The sites run in a child process so the measured event loop and RSS are the engine's alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
import trustme
from sites import SECURE_HEADERS, FakeResolver, LoopbackSite, Reply, good_routes, html_page

from audits.engine import AuditEngineSettings, AuditLimiter, Ports, run_audit
from audits.engine.fetch import Fetcher
from audits.engine.ssrf import SsrfGuard

RUNS = 20
CONCURRENT = 100
SLOW_S = 1.0


async def serve(cert_chain: str) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_chain)
    slow_page = Reply(200, dict(SECURE_HEADERS), html_page(), gzip=True, delay_s=SLOW_S)
    slow_aux = {"/robots.txt": Reply(200, {}, b"User-agent: *\nAllow: /\n", delay_s=0.3)}
    fast = await LoopbackSite(good_routes(), tls=tls).start()
    slow = await LoopbackSite(good_routes(**{"/": slow_page, **slow_aux}), tls=tls).start()
    fast_http = await LoopbackSite({"/": Reply(301, {"Location": f"https://good.bench.test:{fast.port}/"})}).start()
    slow_http = await LoopbackSite({"/": Reply(301, {"Location": "https://x.bench.test/"}, delay_s=0.2)}).start()
    print(json.dumps({"fast": fast.port, "slow": slow.port, "fast_http": fast_http.port, "slow_http": slow_http.port}))
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def overhead(ports: dict[str, int], ca_file: Path, client_ctx: ssl.SSLContext) -> None:
    name = "good.bench.test"
    settings = AuditEngineSettings(
        allowlist=[f"127.0.0.1:{ports['fast']}", f"127.0.0.1:{ports['fast_http']}"],
        ports={name: Ports(https=ports["fast"], http=ports["fast_http"])},
        ca_file=ca_file,
    )
    resolver = FakeResolver({name: ["127.0.0.1"]})

    async def raw() -> float:
        started = time.perf_counter()
        async with httpx.AsyncClient(verify=client_ctx) as client:
            response = await client.get(
                f"https://127.0.0.1:{ports['fast']}/",
                headers={"Host": f"{name}:{ports['fast']}"},
                extensions={"sni_hostname": name},
            )
            assert response.status_code == 200 and b"<h1>" in response.content
        return time.perf_counter() - started

    async def engine_fetch() -> float:
        started = time.perf_counter()
        fetcher = Fetcher(settings, SsrfGuard(resolver=resolver, allowlist=settings.allowlist))
        try:
            page = await fetcher.get(f"https://{name}:{ports['fast']}/")
            assert page.status == 200 and b"<h1>" in page.body
        finally:
            await fetcher.aclose()
        return time.perf_counter() - started

    async def raw_audit_equivalent() -> float:
        started = time.perf_counter()
        base = f"https://127.0.0.1:{ports['fast']}"
        kwargs: dict[str, Any] = {"headers": {"Host": f"{name}:{ports['fast']}"}, "extensions": {"sni_hostname": name}}
        async with httpx.AsyncClient(verify=client_ctx) as client:
            (await client.get(f"{base}/", **kwargs)).raise_for_status()
            await asyncio.gather(
                client.get(f"http://127.0.0.1:{ports['fast_http']}/", headers=kwargs["headers"]),
                client.get(f"{base}/robots.txt", **kwargs),
                client.get(f"{base}/sitemap.xml", **kwargs),
            )
        return time.perf_counter() - started

    async def engine() -> tuple[float, float]:
        started = time.perf_counter()
        result = await run_audit(name, settings=settings, resolver=resolver, report_url="https://r.test/r/x")
        assert result.grade == "A"
        return time.perf_counter() - started, result.timings.load_ms / 1000

    for _ in range(3):
        await raw()
        await engine_fetch()
        await raw_audit_equivalent()
        await engine()
    raws, fetches, raw_alls, engines = [], [], [], []
    for _ in range(RUNS):  # interleaved so drift on the shared machine hits both sides alike
        raws.append(await raw())
        fetches.append(await engine_fetch())
        raw_alls.append(await raw_audit_equivalent())
        engines.append(await engine())
    raw_ms = statistics.median(raws) * 1000
    fetch_ms = statistics.median(fetches) * 1000
    raw_all_ms = statistics.median(raw_alls) * 1000
    audit_ms = statistics.median(e[0] for e in engines) * 1000
    load_ms = statistics.median(e[1] for e in engines) * 1000
    print(f"medians of {RUNS} interleaved runs, new client + TLS handshake each time:")
    print(f"  raw httpx GET of the homepage:                     {raw_ms:6.2f} ms")
    print(
        f"  engine fetch path (guard + pinned transport + capped decode): {fetch_ms:6.2f} ms ({fetch_ms - raw_ms:+.2f} ms)"
    )
    print(f"  raw httpx: homepage, then http:// + robots + sitemap concurrently: {raw_all_ms:6.2f} ms")
    print(
        f"  engine full audit (same requests + TXT + parse + 31 checks + grade): {audit_ms:6.2f} ms ({audit_ms - raw_all_ms:+.2f} ms)"
    )
    print(f"  engine's own load_time of the homepage inside the audit: {load_ms:6.2f} ms")


async def fan_out(ports: dict[str, int], ca_file: Path, max_total: int) -> None:
    names = [f"site{i:03d}.bench.test" for i in range(CONCURRENT)]
    settings = AuditEngineSettings(
        allowlist=[f"127.0.0.1:{ports['slow']}", f"127.0.0.1:{ports['slow_http']}"],
        ports={n: Ports(https=ports["slow"], http=ports["slow_http"]) for n in names},
        ca_file=ca_file,
        total_budget_s=60,
    )
    resolver = FakeResolver({n: ["127.0.0.1"] for n in names})
    limiter = AuditLimiter(max_total=max_total, max_per_domain=1)
    lags: list[float] = []
    peak_rss = baseline = rss_kb()
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal peak_rss
        interval = 0.01
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lags.append(time.perf_counter() - before - interval)
            peak_rss = max(peak_rss, rss_kb())

    async def one(name: str) -> str:
        async with limiter.slot(name):
            result = await run_audit(name, settings=settings, resolver=resolver, report_url="https://r.test/r/x")
            return result.grade

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    grades = await asyncio.gather(*(one(n) for n in names))
    elapsed = time.perf_counter() - started
    stop.set()
    await tick
    lags.sort()
    print(
        f"{CONCURRENT} audits of slow sites (homepage {SLOW_S:.1f} s, robots 0.3 s, http 0.2 s), cap {max_total}: "
        f"wall {elapsed:.2f} s, peak concurrency {limiter.peak}, grades {sorted(set(grades))}, "
        f"RSS {baseline / 1024:.1f} MiB -> peak {peak_rss / 1024:.1f} MiB (delta {(peak_rss - baseline) / 1024:.1f} MiB), "
        f"event-loop lag max {lags[-1] * 1000:.1f} ms, p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms"
    )


async def main() -> None:
    ca = trustme.CA()
    now = datetime.now(UTC)
    leaf = ca.issue_cert("good.bench.test", "*.bench.test", not_after=(now + timedelta(days=400)).replace(tzinfo=None))
    with tempfile.TemporaryDirectory() as tmp:
        ca_file, chain = Path(tmp) / "ca.pem", Path(tmp) / "chain.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        leaf.private_key_and_cert_chain_pem.write_to_path(str(chain))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            str(chain),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None and child.stdin is not None
        ports = json.loads(await child.stdout.readline())
        client_ctx = ssl.create_default_context(cafile=str(ca_file))
        try:
            await overhead(ports, ca_file, client_ctx)
            # Smaller cap first: RSS high-water marks do not come back down within a process.
            await fan_out(ports, ca_file, max_total=20)
            await fan_out(ports, ca_file, max_total=CONCURRENT)
        finally:
            child.stdin.close()
            await asyncio.wait_for(child.wait(), 10)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2]))
    elif len(sys.argv) == 2 and sys.argv[1] == "--profile":
        import cProfile
        import pstats

        cProfile.run("asyncio.run(main())", "/tmp/bench_engine.prof")
        pstats.Stats("/tmp/bench_engine.prof").sort_stats("tottime").print_stats(15)
    else:
        asyncio.run(main())
