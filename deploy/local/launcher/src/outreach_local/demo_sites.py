"""Demo websites on loopback with different flaws, for `make run` and the end-to-end test. Each site has an
HTTP and (optionally) an HTTPS port with a certificate from a local test CA (trustme); the audits service
reaches them through its explicit allowlist, a static name → 127.0.0.1 map and a per-name port map.

    python -m outreach_local.demo_sites --state-dir .local/run --base-port 8201
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

SECURE_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "public, max-age=600",
}


@dataclass(frozen=True)
class SiteSpec:
    name: str
    company: str
    https: bool = True
    redirect_http: bool = True
    description: str | None = "We bake sourdough, rye and pastries every morning and deliver across the city before 8am."
    h1s: int = 1
    viewport: bool = True
    lang: bool = True
    images_without_alt: int = 0
    secure_headers: bool = True
    delay_s: float = 0.0
    spf: bool = True
    dmarc: str | None = "reject"


SITES: tuple[SiteSpec, ...] = (
    SiteSpec("northwind-bakery.test", "Northwind Bakery"),
    SiteSpec("acme-plumbing.test", "Acme Plumbing", https=False, redirect_http=False, secure_headers=False,
             dmarc=None, description="Plumbers."),
    SiteSpec("bluebird-dental.test", "Bluebird Dental", redirect_http=False, description=None, h1s=2,
             dmarc="none"),
    SiteSpec("cedar-law.test", "Cedar Law", viewport=False, lang=False, images_without_alt=3, delay_s=0.8,
             secure_headers=False, spf=False, dmarc=None),
)


@dataclass(frozen=True)
class RunningSite:
    name: str
    company: str
    http_port: int
    https_port: int | None


def page(spec: SiteSpec) -> str:
    head = ['<meta charset="utf-8">', f"<title>{spec.company} - family business since 1998</title>"]
    if spec.description:
        head.append(f'<meta name="description" content="{spec.description}">')
    if spec.viewport:
        head.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    head.append(f'<link rel="canonical" href="https://{spec.name}/">')
    body = [f"<h1>{spec.company}</h1>" for _ in range(spec.h1s)]
    body += ['<img src="/shop.png" alt="Our shop front">', '<img src="/team.png" alt="The team">']
    body += [f'<img src="/photo{i}.png">' for i in range(spec.images_without_alt)]
    body.append('<form><label for="q">Postcode</label><input id="q" name="q"><button>Search</button></form>')
    body.append('<a href="/contact">Contact us</a>')
    lang = ' lang="en"' if spec.lang else ""
    return f"<!doctype html><html{lang}><head>{''.join(head)}</head><body>{''.join(body)}</body></html>"


def site_app(spec: SiteSpec, *, tls: bool, https_port: int | None) -> Starlette:
    async def home(request: Request) -> Response:
        if not tls and spec.redirect_http and spec.https:
            return RedirectResponse(f"https://{spec.name}/", status_code=301)
        if spec.delay_s:
            await asyncio.sleep(spec.delay_s)
        headers = dict(SECURE_HEADERS) if spec.secure_headers and tls else {"Cache-Control": "no-cache"}
        return Response(page(spec), media_type="text/html; charset=utf-8", headers=headers)

    async def robots(_request: Request) -> Response:
        return PlainTextResponse("User-agent: *\nAllow: /\n")

    async def sitemap(_request: Request) -> Response:
        xml = (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
               f"<url><loc>https://{spec.name}/</loc></url></urlset>")
        return Response(xml, media_type="application/xml")

    return Starlette(routes=[Route("/", home), Route("/robots.txt", robots), Route("/sitemap.xml", sitemap)])


def txt_records(specs: tuple[SiteSpec, ...] = SITES) -> dict[str, list[str]]:
    records: dict[str, list[str]] = {}
    for spec in specs:
        if spec.spf:
            records[spec.name] = [f"v=spf1 include:_spf.{spec.name} -all"]
        if spec.dmarc:
            records[f"_dmarc.{spec.name}"] = [f"v=DMARC1; p={spec.dmarc}"]
    return records


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def plan_ports(base_port: int, specs: tuple[SiteSpec, ...] = SITES) -> list[RunningSite]:
    sites = []
    port = base_port
    for spec in specs:
        http_port, port = port, port + 1
        https_port = None
        if spec.https:
            https_port, port = port, port + 1
        sites.append(RunningSite(spec.name, spec.company, http_port, https_port))
    return sites


def write_ca(state_dir: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A local CA and one certificate for every demo name (reused across runs)."""
    ca_path, cert_path, key_path = state_dir / "demo-ca.pem", state_dir / "demo-cert.pem", state_dir / "demo-key.pem"
    if not (ca_path.exists() and cert_path.exists() and key_path.exists()):
        ca = trustme.CA()
        cert = ca.issue_cert(*names)
        ca.cert_pem.write_to_path(str(ca_path))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
        cert.private_key_pem.write_to_path(str(key_path))
    return ca_path, cert_path, key_path


async def serve(state_dir: Path, base_port: int) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_ports(base_port)
    _ca, cert, key = write_ca(state_dir, [s.name for s in SITES])
    servers = []
    for spec, running in zip(SITES, plan, strict=True):
        servers.append(uvicorn.Server(uvicorn.Config(site_app(spec, tls=False, https_port=running.https_port),
                                                     host="127.0.0.1", port=running.http_port, log_level="warning")))
        if running.https_port is not None:
            servers.append(uvicorn.Server(uvicorn.Config(
                site_app(spec, tls=True, https_port=running.https_port), host="127.0.0.1", port=running.https_port,
                log_level="warning", ssl_certfile=str(cert), ssl_keyfile=str(key))))
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):  # noqa: ASYNC110 - uvicorn exposes no start event
        await asyncio.sleep(0.05)
    (state_dir / "demo-sites.json").write_text(json.dumps([asdict(p) for p in plan], indent=2))
    print(f"[demo-sites] serving {len(SITES)} sites on 127.0.0.1:{base_port}-{base_port + len(servers) - 1}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--base-port", type=int, default=8201)
    args = parser.parse_args()
    asyncio.run(serve(args.state_dir, args.base_port))


if __name__ == "__main__":
    main()
