"""The dashboard server on its own (no browser, no broker): the page shell on every screen route, the strict
security headers, the static modules, liveness, and refusal of odd ids."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from dashboard.app import STATIC_DIR, create_app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://dashboard")


async def test_every_screen_route_serves_the_shell_with_a_strict_csp() -> None:
    async with _client() as client:
        for path in ("/leads", "/leads/new", "/leads/6c1f3a52-8d7e-4b0e-9a43-1f2d3c4b5a69",
                     "/leads/6c1f3a52-8d7e-4b0e-9a43-1f2d3c4b5a69/edit", "/audits/run-1"):
            r = await client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/static/js/main.js">' in r.text
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"


async def test_root_redirects_to_leads_and_liveness_answers() -> None:
    async with _client() as client:
        r = await client.get("/")
        assert r.status_code == 307 and r.headers["location"] == "/leads"
        r = await client.get("/health/live")
        assert r.json() == {"status": "ok"}


async def test_odd_ids_are_not_served_the_shell() -> None:
    async with _client() as client:
        r = await client.get("/leads/a%20b%3Cscript%3E")
        assert r.status_code == 404
        assert r.json()["reason"] == "not_found"


async def test_static_modules_are_served_as_javascript() -> None:
    async with _client() as client:
        for name in ("main.js", "api.js", "dom.js", "leads.js", "lead-detail.js", "unibox.js", "audit.js",
                     "list-state.js", "workspaces.js", "lead-form.js", "timeline.js"):
            r = await client.get(f"/static/js/{name}")
            assert r.status_code == 200, name
            assert "javascript" in r.headers["content-type"]
        assert (await client.get("/static/css/app.css")).status_code == 200


def test_no_markup_from_data_and_no_inline_handlers_in_the_front_end() -> None:
    # The CSP forbids inline code; the modules must also never parse API data as HTML in this document.
    sources = {p.name: p.read_text() for p in Path(STATIC_DIR).rglob("*") if p.suffix in {".js", ".html"}}
    for name, text in sources.items():
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", text), name
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", text), name
        assert "<script>" not in text, name


async def test_the_lead_detail_help_is_served_under_the_same_headers_without_scripts() -> None:
    async with _client() as client:
        r = await client.get("/help/lead-detail")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<h1>Lead detail</h1>" in r.text and "<script" not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    # It links to the screens it talks about, by their paths on this site.
    assert 'href="/integrations"' in r.text and 'href="/leads"' in r.text
