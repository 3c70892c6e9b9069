"""Every check of the audit (docs/ARCHITECTURE.md, The audit), evaluated from the evidence one audit collected.

Thresholds follow Lighthouse/outreach-tool consensus where the spec leaves them open; each is a
named constant so the report and tests can cite it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import httpx

from audits.domain.findings import BY_ID, VARIANTS, phrase
from audits.domain.grading import POINTS, Status
from audits.domain.profile import h1_status, meta_description_status
from audits.domain.result import CertInfo, CheckResult
from audits.engine.html import PageScan

TTFB_PASS_S: Final = 0.6
TTFB_WARN_S: Final = 1.8
LOAD_PASS_S: Final = 3.0
LOAD_WARN_S: Final = 6.0
HTML_PASS_BYTES: Final = 100_000
HTML_WARN_BYTES: Final = 500_000
COMPRESSION_MIN_BYTES: Final = 1_400
TITLE_MIN: Final = 10
TITLE_MAX: Final = 70
EXPIRY_WARNING_DAYS: Final = 30
COMPRESSED: Final = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
_MAX_AGE: Final = re.compile(r"(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_MAX_SCALE: Final = re.compile(r"maximum-scale\s*=\s*([\d.]+)", re.IGNORECASE)
_USER_SCALABLE_NO: Final = re.compile(r"user-scalable\s*=\s*(no|0)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the checks look at, gathered by the audit."""

    status_code: int
    headers: httpx.Headers
    html_bytes: int
    ttfb_s: float
    load_s: float
    final_is_https: bool
    page: PageScan
    https_available: bool
    cert: CertInfo | None
    http_redirects_to_https: bool | None
    robots_txt: str | None
    sitemap_found: bool


def _check(check_id: str, status: Status, detail: str = "", variant: str | None = None) -> CheckResult:
    finding = VARIANTS.get(f"{check_id}:{variant}") if variant and status is not Status.PASS else None
    return CheckResult(
        id=check_id,
        category=BY_ID[check_id].category,
        status=status,
        points=POINTS[status],
        finding=finding or phrase(check_id, status),
        detail=detail,
    )


def _coverage(missing: int, total: int) -> Status:
    if total == 0 or missing == 0:
        return Status.PASS
    return Status.WARN if missing * 2 <= total else Status.FAIL


def _band(value: float, pass_below: float, warn_below: float) -> Status:
    return Status.PASS if value < pass_below else Status.WARN if value < warn_below else Status.FAIL


def robots_blocks_everything(robots_txt: str) -> bool:
    """True when the `User-agent: *` group disallows `/`."""
    in_star_group = False
    seen_rule = False
    for raw in robots_txt.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if seen_rule:
                in_star_group, seen_rule = False, False
            in_star_group = in_star_group or value == "*"
        elif key in ("allow", "disallow"):
            seen_rule = True
            if in_star_group and key == "disallow" and value == "/":
                return True
    return False


def seo_checks(e: Evidence) -> list[CheckResult]:
    p = e.page
    title = p.title or ""
    if not title:
        title_check = _check("seo.title", Status.FAIL, "no <title>")
    elif len(title) < TITLE_MIN:
        title_check = _check("seo.title", Status.WARN, f"{len(title)} characters", "too_short")
    elif len(title) > TITLE_MAX:
        title_check = _check("seo.title", Status.WARN, f"{len(title)} characters", "too_long")
    else:
        title_check = _check("seo.title", Status.PASS, f"{len(title)} characters")
    meta = meta_description_status(p.meta_description)
    meta_status = {"ok": Status.PASS, "missing": Status.FAIL}.get(meta, Status.WARN)
    h1 = h1_status(p.h1_count)
    noindex = "noindex" in (p.meta_robots or "") or "noindex" in e.headers.get("x-robots-tag", "").lower()
    if e.robots_txt is None:
        robots = _check("seo.robots_txt", Status.WARN, "no /robots.txt")
    elif robots_blocks_everything(e.robots_txt):
        robots = _check("seo.robots_txt", Status.FAIL, "Disallow: / for all robots")
    else:
        robots = _check("seo.robots_txt", Status.PASS)
    if e.status_code == 200:
        status = Status.PASS
    elif 200 <= e.status_code < 300:
        status = Status.WARN
    else:
        status = Status.FAIL
    return [
        _check("seo.status", status, f"HTTP {e.status_code}"),
        title_check,
        _check("seo.meta_description", meta_status, meta, meta),
        _check("seo.h1", {"ok": Status.PASS, "missing": Status.FAIL}.get(h1, Status.WARN), f"{p.h1_count} h1"),
        _check("seo.canonical", Status.PASS if p.canonical else Status.WARN),
        _check("seo.indexable", Status.FAIL if noindex else Status.PASS),
        robots,
        _check("seo.sitemap", Status.PASS if e.sitemap_found else Status.WARN),
        _check("seo.img_alt", _coverage(p.images_missing_alt, p.images), f"{p.images_missing_alt}/{p.images} missing"),
        _check("seo.lang", Status.PASS if p.lang else Status.WARN),
    ]


def _cacheable(headers: httpx.Headers) -> bool:
    cache_control = headers.get("cache-control", "").lower()
    if "no-store" in cache_control:
        return False
    if any(int(v) > 0 for v in _MAX_AGE.findall(cache_control)):
        return True
    return any(h in headers for h in ("etag", "last-modified", "expires")) and "no-cache" not in cache_control


def performance_checks(e: Evidence) -> list[CheckResult]:
    encoding = e.headers.get("content-encoding", "").lower().strip()
    compressed = encoding in COMPRESSED or e.html_bytes < COMPRESSION_MIN_BYTES
    blocking = e.page.blocking_scripts
    return [
        _check("perf.ttfb", _band(e.ttfb_s, TTFB_PASS_S, TTFB_WARN_S), f"{e.ttfb_s * 1000:.0f} ms"),
        _check("perf.load_time", _band(e.load_s, LOAD_PASS_S, LOAD_WARN_S), f"{e.load_s:.2f} s"),
        _check(
            "perf.html_size",
            _band(e.html_bytes, HTML_PASS_BYTES + 1, HTML_WARN_BYTES + 1),
            f"{e.html_bytes} bytes",
        ),
        _check("perf.compression", Status.PASS if compressed else Status.FAIL, encoding or "none"),
        _check(
            "perf.render_blocking",
            Status.PASS if blocking == 0 else Status.WARN if blocking <= 2 else Status.FAIL,
            f"{blocking} blocking scripts",
        ),
        _check("perf.cache", Status.PASS if _cacheable(e.headers) else Status.WARN),
    ]


def security_checks(e: Evidence) -> list[CheckResult]:
    h = e.headers
    if not e.https_available:
        redirect = _check("sec.http_redirect", Status.FAIL, "no https to redirect to")
        cert = _check("sec.cert", Status.FAIL, "no certificate", "missing")
    else:
        if e.http_redirects_to_https is None:
            redirect = _check("sec.http_redirect", Status.WARN, "http:// does not answer")
        else:
            redirect = _check("sec.http_redirect", Status.PASS if e.http_redirects_to_https else Status.FAIL)
        if e.cert is None or not e.cert.valid:
            error = e.cert.error if e.cert is not None else "no certificate"
            cert = _check("sec.cert", Status.FAIL, error or "", "expired" if "expired" in (error or "") else None)
        elif e.cert.days_left < EXPIRY_WARNING_DAYS:
            cert = _check("sec.cert", Status.WARN, f"{e.cert.days_left} days left")
        else:
            cert = _check("sec.cert", Status.PASS, f"{e.cert.days_left} days left")
    hsts = e.final_is_https and any(int(v) > 0 for v in _MAX_AGE.findall(h.get("strict-transport-security", "")))
    csp = h.get("content-security-policy", "")
    frame = h.get("x-frame-options", "").strip().lower() in ("deny", "sameorigin") or "frame-ancestors" in csp
    mixed = e.final_is_https and bool(e.page.insecure_resources)
    return [
        _check("sec.https", Status.PASS if e.https_available else Status.FAIL),
        redirect,
        cert,
        _check("sec.hsts", Status.PASS if hsts else Status.WARN),
        _check("sec.csp", Status.PASS if csp.strip() else Status.WARN),
        _check("sec.nosniff", Status.PASS if h.get("x-content-type-options", "").lower() == "nosniff" else Status.WARN),
        _check("sec.frame", Status.PASS if frame else Status.WARN),
        _check(
            "sec.mixed_content",
            Status.FAIL if mixed else Status.PASS,
            ", ".join(e.page.insecure_resources[:3]) if mixed else "",
        ),
    ]


def mobile_checks(e: Evidence) -> list[CheckResult]:
    viewport = e.page.viewport
    if viewport is None:
        vp = _check("mobile.viewport", Status.FAIL, "no viewport meta")
    elif "width=device-width" in viewport.replace(" ", "").lower():
        vp = _check("mobile.viewport", Status.PASS, viewport[:100])
    else:
        vp = _check("mobile.viewport", Status.WARN, viewport[:100])
    zoom = Status.PASS
    if viewport is not None:
        scale = _MAX_SCALE.search(viewport)
        max_scale = float(scale.group(1)) if scale else None
        if _USER_SCALABLE_NO.search(viewport) or (max_scale is not None and max_scale < 2):
            zoom = Status.FAIL
        elif max_scale is not None and max_scale < 5:
            zoom = Status.WARN
    return [vp, _check("mobile.zoom", zoom)]


def accessibility_checks(e: Evidence) -> list[CheckResult]:
    p = e.page
    return [
        _check("a11y.lang", Status.PASS if p.lang else Status.FAIL),
        _check("a11y.img_alt", _coverage(p.images_missing_alt, p.images), f"{p.images_missing_alt}/{p.images} missing"),
        _check("a11y.labels", _coverage(p.unlabelled_fields, p.form_fields), f"{p.unlabelled_fields}/{p.form_fields}"),
        _check(
            "a11y.named_controls",
            _coverage(p.unnamed_controls, p.controls),
            f"{p.unnamed_controls}/{p.controls} unnamed",
        ),
        _check("a11y.title", Status.PASS if p.title else Status.FAIL),
    ]


def evaluate(evidence: Evidence) -> list[CheckResult]:
    """All checks in catalogue order."""
    return [
        *seo_checks(evidence),
        *performance_checks(evidence),
        *security_checks(evidence),
        *mobile_checks(evidence),
        *accessibility_checks(evidence),
    ]
