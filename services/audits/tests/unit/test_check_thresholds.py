"""Check thresholds at their edges, on synthetic evidence (no network)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from audits.domain.grading import Status
from audits.domain.result import CertInfo
from audits.engine.checks import Evidence, evaluate
from audits.engine.html import PageScan

GOOD = Evidence(
    status_code=200,
    headers=httpx.Headers(
        {
            "content-encoding": "gzip",
            "cache-control": "max-age=60",
            "strict-transport-security": "max-age=300",
            "content-security-policy": "default-src 'self'",
            "x-content-type-options": "nosniff",
            "x-frame-options": "SAMEORIGIN",
        }
    ),
    html_bytes=20_000,
    ttfb_s=0.1,
    load_s=0.2,
    final_is_https=True,
    page=PageScan(
        lang="en",
        title="A good page title",
        meta_description="x" * 100,
        viewport="width=device-width",
        canonical="/",
        h1_count=1,
    ),
    https_available=True,
    cert=CertInfo(valid=True, days_left=90),
    http_redirects_to_https=True,
    robots_txt="User-agent: *\nAllow: /",
    sitemap_found=True,
)


def status_of(evidence: Evidence, check_id: str) -> Status:
    return next(c.status for c in evaluate(evidence) if c.id == check_id)


def test_good_evidence_passes_all_31_checks() -> None:
    checks = evaluate(GOOD)
    assert len(checks) == 31 and {c.status for c in checks} == {Status.PASS}


@pytest.mark.parametrize(
    ("field", "value", "check_id", "status"),
    [
        ("ttfb_s", 0.599, "perf.ttfb", Status.PASS),
        ("ttfb_s", 0.6, "perf.ttfb", Status.WARN),
        ("ttfb_s", 1.8, "perf.ttfb", Status.FAIL),
        ("load_s", 2.99, "perf.load_time", Status.PASS),
        ("load_s", 3.0, "perf.load_time", Status.WARN),
        ("load_s", 6.0, "perf.load_time", Status.FAIL),
        ("html_bytes", 100_000, "perf.html_size", Status.PASS),
        ("html_bytes", 100_001, "perf.html_size", Status.WARN),
        ("html_bytes", 500_001, "perf.html_size", Status.FAIL),
        ("status_code", 204, "seo.status", Status.WARN),
        ("status_code", 404, "seo.status", Status.FAIL),
        ("cert", CertInfo(valid=True, days_left=29), "sec.cert", Status.WARN),
        ("cert", CertInfo(valid=True, days_left=30), "sec.cert", Status.PASS),
        ("cert", CertInfo(valid=False, error="self-signed certificate"), "sec.cert", Status.FAIL),
        ("http_redirects_to_https", None, "sec.http_redirect", Status.WARN),
        ("robots_txt", "User-agent: *\nDisallow: /", "seo.robots_txt", Status.FAIL),
        ("robots_txt", None, "seo.robots_txt", Status.WARN),
        ("sitemap_found", False, "seo.sitemap", Status.WARN),
    ],
)
def test_threshold_edges(field: str, value: object, check_id: str, status: Status) -> None:
    assert status_of(dataclasses.replace(GOOD, **{field: value}), check_id) is status  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("page_changes", "check_id", "status"),
    [
        ({"title": "Too short"}, "seo.title", Status.WARN),
        ({"title": "x" * 71}, "seo.title", Status.WARN),
        ({"title": None}, "a11y.title", Status.FAIL),
        ({"meta_robots": "noindex, follow"}, "seo.indexable", Status.FAIL),
        ({"viewport": "width=1024"}, "mobile.viewport", Status.WARN),
        ({"viewport": "width=device-width, maximum-scale=1"}, "mobile.zoom", Status.FAIL),
        ({"viewport": "width=device-width, maximum-scale=3"}, "mobile.zoom", Status.WARN),
        ({"blocking_scripts": 3}, "perf.render_blocking", Status.FAIL),
        ({"form_fields": 3, "unlabelled_fields": 2}, "a11y.labels", Status.FAIL),
        ({"controls": 4, "unnamed_controls": 2}, "a11y.named_controls", Status.WARN),
        ({"insecure_resources": ["http://cdn.test/a.js"]}, "sec.mixed_content", Status.FAIL),
    ],
)
def test_page_driven_checks(page_changes: dict[str, object], check_id: str, status: Status) -> None:
    page = dataclasses.replace(GOOD.page, **page_changes)  # type: ignore[arg-type]
    assert status_of(dataclasses.replace(GOOD, page=page), check_id) is status


def test_uncompressed_large_page_fails_compression_but_small_one_passes() -> None:
    plain = httpx.Headers({k: v for k, v in GOOD.headers.items() if k != "content-encoding"})
    assert status_of(dataclasses.replace(GOOD, headers=plain), "perf.compression") is Status.FAIL
    small = dataclasses.replace(GOOD, headers=plain, html_bytes=1_000)
    assert status_of(small, "perf.compression") is Status.PASS


def test_cache_and_frame_protection_variants() -> None:
    no_store = httpx.Headers({**dict(GOOD.headers), "cache-control": "no-store"})
    assert status_of(dataclasses.replace(GOOD, headers=no_store), "perf.cache") is Status.WARN
    etag_only = httpx.Headers({"etag": '"abc"', "content-security-policy": "frame-ancestors 'self'"})
    evidence = dataclasses.replace(GOOD, headers=etag_only)
    assert status_of(evidence, "perf.cache") is Status.PASS
    assert status_of(evidence, "sec.frame") is Status.PASS
