"""`run_audit`: one audit of one domain, from DNS to the graded AuditResult."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx

from audits.domain.grading import (
    WEIGHTS,
    Category,
    category_mean,
    grade_for,
    overall_score,
    round_half_up,
)
from audits.domain.result import (
    AuditResult,
    CategoryScore,
    CertInfo,
    EmailAuth,
    PageFacts,
    Timings,
)
from audits.engine.checks import Evidence, evaluate
from audits.engine.errors import AuditFailure, FailureKind
from audits.engine.fetch import (
    REDIRECT_STATUSES,
    CertificateRejected,
    Fetcher,
    FetchResult,
    next_url,
)
from audits.engine.hosts import Host, HostError, parse_host
from audits.engine.html import PageScan, decode_html, scan_html
from audits.engine.resolver import ResolutionError, Resolver
from audits.engine.settings import AuditEngineSettings
from audits.engine.ssrf import SsrfGuard, parse_url
from audits.engine.tls import cert_info
from audits.engine.transport import Dialer

_HTTPS_FALLBACK: Final = frozenset(
    {FailureKind.CONNECTION_REFUSED, FailureKind.TLS_ERROR, FailureKind.CONNECTION_ERROR}
)
_DMARC_POLICY: Final = re.compile(r"(?:^|;)\s*p\s*=\s*(\w+)", re.IGNORECASE)
_PARSE_IN_THREAD_BYTES: Final = 200_000
_HIDDEN_HEADERS: Final = frozenset({"set-cookie"})


@dataclass(frozen=True, slots=True)
class _Homepage:
    fetch: FetchResult
    https_available: bool
    cert: CertInfo | None
    lenient: bool


def parse_domain(domain: str) -> Host:
    """Accept `example.com`, `Example.COM.`, or a full URL; refuse anything else with INVALID_DOMAIN."""
    text = domain.strip()
    try:
        if "://" in text:
            return parse_url(text).host
        return parse_host(text.split("/", 1)[0])
    except (HostError, AuditFailure) as exc:
        raise AuditFailure(FailureKind.INVALID_DOMAIN, f"'{domain[:100]}' is not a domain we can audit") from exc


def _origin_url(host: Host, scheme: str, port: int) -> str:
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host.url_host}{'' if port == default else f':{port}'}/"


class _Audit:
    """The state of one audit: guard, fetchers (verifying and, if needed, lenient), settings."""

    def __init__(self, settings: AuditEngineSettings, resolver: Resolver, dialer: Dialer | None) -> None:
        self.settings = settings
        self.resolver = resolver
        self.guard = SsrfGuard(resolver=resolver, allowlist=settings.allowlist)
        self.dialer = dialer
        self.strict = Fetcher(settings, self.guard, verify=True, dialer=dialer)
        self.lenient: Fetcher | None = None

    def lenient_fetcher(self) -> Fetcher:
        if self.lenient is None:
            self.lenient = Fetcher(self.settings, self.guard, verify=False, dialer=self.dialer)
        return self.lenient

    async def aclose(self) -> None:
        await self.strict.aclose()
        if self.lenient is not None:
            await self.lenient.aclose()

    async def homepage(self, host: Host, now: datetime) -> _Homepage:
        ports = self.settings.ports_for(host.name)
        if ports.https is None:  # a site declared without https (loopback demo/test sites only)
            page = await self.strict.get(_origin_url(host, "http", ports.http))
            return _Homepage(page, False, None, lenient=False)
        # Refused or unresolvable domains fail here, before any connection is attempted.
        https_url = str((await self.guard.admit(_origin_url(host, "https", ports.https))).parsed.url)
        try:
            page = await self.strict.get(https_url)
            return _Homepage(page, True, cert_info(page.peer_cert_der, now=now, valid=True), lenient=False)
        except CertificateRejected as rejected:
            page = await self.lenient_fetcher().get(https_url)
            cert = cert_info(page.peer_cert_der, now=now, valid=False, error=rejected.reason)
            return _Homepage(page, True, cert, lenient=True)
        except AuditFailure as https_failure:
            # Fall back to http only when https on the domain itself is unavailable, not when a
            # later redirect hop fails.
            if https_failure.kind not in _HTTPS_FALLBACK or https_failure.url != https_url:
                raise
            try:
                page = await self.strict.get(_origin_url(host, "http", ports.http))
            except AuditFailure as http_failure:
                if http_failure.kind in _HTTPS_FALLBACK:
                    raise AuditFailure(
                        https_failure.kind,
                        f"{host.name} could not be reached over https or http: {https_failure.message}",
                    ) from http_failure
                raise
            return _Homepage(page, False, None, lenient=False)

    async def http_redirects_to_https(self, host: Host) -> bool | None:
        """Does plain http:// send visitors to https? None when http does not answer at all."""
        url = _origin_url(host, "http", self.settings.ports_for(host.name).http)
        try:
            first = await self.strict.get(url, follow=False, max_bytes=self.settings.max_aux_bytes, truncate=True)
        except AuditFailure:
            return None  # refused, timed out, blocked, malformed: http does not usefully answer
        location = first.headers.get("location")
        if first.status not in REDIRECT_STATUSES or not location:
            return False
        try:
            return next_url(httpx.URL(first.url), location).lower().startswith("https://")
        except AuditFailure:
            return False

    async def aux_text(self, fetcher: Fetcher, url: str) -> str | None:
        """Body of a small companion file (robots.txt, sitemap.xml) when it answers 200."""
        try:
            result = await fetcher.get(url, max_bytes=self.settings.max_aux_bytes, truncate=True)
        except AuditFailure:
            # A companion file that fails (or redirects somewhere refused) counts as missing; the
            # total budget still bounds how long this may take.
            return None
        if result.status != 200:
            return None
        return result.body.decode("utf-8", "replace")

    async def email_auth(self, host: Host) -> EmailAuth:
        if host.ip is not None:
            return EmailAuth()

        async def txt(name: str) -> list[str]:
            try:
                return await self.resolver.txt(name)
            except ResolutionError:
                return []

        apex, dmarc_records = await asyncio.gather(txt(host.name), txt(f"_dmarc.{host.name}"))
        spf = next((r for r in apex if r.strip().lower().startswith("v=spf1")), None)
        dmarc = next((r for r in dmarc_records if r.strip().lower().startswith("v=dmarc1")), None)
        policy_match = _DMARC_POLICY.search(dmarc) if dmarc else None
        return EmailAuth(spf=spf, dmarc=dmarc, dmarc_policy=policy_match.group(1).lower() if policy_match else None)


def _looks_like_sitemap(text: str | None) -> bool:
    return text is not None and ("<urlset" in text or "<sitemapindex" in text)


def _robots_text(text: str | None) -> str | None:
    # A 200 with an HTML page is a soft 404, not a robots.txt.
    if text is None or "<html" in text[:500].lower():
        return None
    return text


async def _scan(body: bytes, content_type: str) -> PageScan:
    html = decode_html(body, content_type)
    if len(body) > _PARSE_IN_THREAD_BYTES:
        # Keep the event loop responsive for the other audits while a big page is parsed.
        return await asyncio.to_thread(scan_html, html)
    return scan_html(html)


def _headers(headers: httpx.Headers) -> dict[str, str]:
    kept: dict[str, str] = {}
    for key, value in headers.multi_items():
        if key in _HIDDEN_HEADERS or len(kept) >= 60:
            continue
        kept[key] = f"{kept[key]}, {value}"[:500] if key in kept else value[:500]
    return kept


async def run_audit(
    domain: str,
    *,
    settings: AuditEngineSettings,
    resolver: Resolver,
    report_url: str,
    now: datetime | None = None,
    dialer: Dialer | None = None,
) -> AuditResult:
    """Audit `domain`'s homepage. Raises AuditFailure with an operator-readable message."""
    host = parse_domain(domain)
    audited_at = (now or datetime.now(UTC)).astimezone(UTC)
    started = time.monotonic()
    audit = _Audit(settings, resolver, dialer)
    try:
        async with asyncio.timeout(settings.total_budget_s):
            home = await audit.homepage(host, audited_at)
            final = httpx.URL(home.fetch.url)
            aux = audit.lenient_fetcher() if home.lenient else audit.strict
            robots_url = str(final.copy_with(path="/robots.txt", query=None, fragment=None))
            sitemap_url = str(final.copy_with(path="/sitemap.xml", query=None, fragment=None))
            redirect_check = (
                audit.http_redirects_to_https(host) if home.https_available else asyncio.sleep(0, result=False)
            )
            http_redirects, robots_raw, sitemap_raw, email = await asyncio.gather(
                redirect_check,
                audit.aux_text(aux, robots_url),
                audit.aux_text(aux, sitemap_url),
                audit.email_auth(host),
            )
            scan = await _scan(home.fetch.body, home.fetch.headers.get("content-type", ""))
    except TimeoutError as exc:
        raise AuditFailure(
            FailureKind.TIMEOUT, f"the audit of {host.name} took longer than {settings.total_budget_s:g} s"
        ) from exc
    finally:
        await audit.aclose()

    robots = _robots_text(robots_raw)
    sitemap_found = _looks_like_sitemap(sitemap_raw) or (robots is not None and "sitemap:" in robots.lower())
    page = home.fetch
    evidence = Evidence(
        status_code=page.status,
        headers=page.headers,
        html_bytes=len(page.body),
        ttfb_s=page.ttfb_s,
        load_s=page.total_s,
        final_is_https=final.scheme == "https",
        page=scan,
        https_available=home.https_available,
        cert=home.cert,
        http_redirects_to_https=http_redirects if home.https_available else False,
        robots_txt=robots,
        sitemap_found=sitemap_found,
    )
    checks = evaluate(evidence)
    means = {c: category_mean(ch.status for ch in checks if ch.category is c) for c in Category}
    score = overall_score(means)
    return AuditResult(
        domain=host.name,
        audited_at=audited_at,
        report_url=report_url,
        requested_url=page.hops[0].url,
        final_url=page.url,
        status_code=page.status,
        https_available=home.https_available,
        http_redirects_to_https=evidence.http_redirects_to_https,
        cert=home.cert,
        redirect_chain=page.hops,
        timings=Timings(
            ttfb_ms=round(page.ttfb_s * 1000, 1),
            load_ms=round(page.total_s * 1000, 1),
            audit_ms=round((time.monotonic() - started) * 1000, 1),
        ),
        headers=_headers(page.headers),
        page=PageFacts(
            title=scan.title,
            meta_description=scan.meta_description,
            lang=scan.lang,
            h1_count=scan.h1_count,
            canonical=scan.canonical,
            viewport=scan.viewport,
            images=scan.images,
            images_missing_alt=scan.images_missing_alt,
            html_bytes=len(page.body),
            transfer_bytes=page.raw_bytes,
            content_encoding=page.headers.get("content-encoding"),
            cms=scan.cms,
            social_tags=sorted(set(scan.social_tags)),
            render_blocking_scripts=scan.blocking_scripts,
            insecure_resources=scan.insecure_resources[:20],
        ),
        robots_txt=robots[:5000] if robots else None,
        sitemap_found=sitemap_found,
        email_auth=email,
        checks=checks,
        categories=[CategoryScore(category=c, score=int(round_half_up(means[c])), weight=WEIGHTS[c]) for c in Category],
        score=score,
        grade=grade_for(score),
    )
