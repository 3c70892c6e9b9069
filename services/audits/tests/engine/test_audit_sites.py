"""Audits of loopback test sites (TLS from a trustme CA, fake DNS), each asserting the exact
18-key profile and grade the spec implies."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sites import (
    REPORT_URL,
    SECURE_HEADERS,
    Deploy,
    FakeResolver,
    Reply,
    audit,
    good_routes,
    gzip_bomb,
    html_page,
    trickle,
)

from audits.domain.findings import NO_ISSUES, NOTHING_ELSE, VARIANTS, phrase
from audits.domain.grading import Status
from audits.domain.profile import summary
from audits.domain.result import AuditResult
from audits.engine import AuditFailure, FailureKind, run_audit


def expected(now: datetime, **changes: str) -> dict[str, str]:
    """The good site's profile with `changes` applied."""
    profile = {
        "audit_grade": "A",
        "audit_score": "100",
        "audit_url": REPORT_URL,
        "audit_date": now.date().isoformat(),
        "top_issue": NO_ISSUES,
        "second_issue": NOTHING_ELSE,
        "issues_found": "0",
        "seo_score": "100",
        "performance_score": "100",
        "security_score": "100",
        "accessibility_score": "100",
        "mobile_ready": "yes",
        "load_time_s": "0.0",
        "https_status": "secure",
        "ssl_days_left": "400",
        "meta_description_status": "ok",
        "h1_status": "ok",
        "email_auth_status": "enforced",
    }
    profile.update(changes)
    return profile


async def test_good_site_scores_a_with_every_check_passing(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy()
    result, profile = await audit(site, resolver, now)
    assert profile == expected(now)
    assert all(c.status is Status.PASS for c in result.checks)
    assert len(result.checks) == 31
    assert result.final_url == f"https://good.test:{site.https_port}/"
    assert [h.status for h in result.redirect_chain] == [200]
    assert result.cert is not None and result.cert.valid and "good.test" in result.cert.names
    assert result.page.content_encoding == "gzip"
    assert result.page.transfer_bytes < result.page.html_bytes
    # Host header and SNI carried the name, while the connection went to the pinned 127.0.0.1.
    assert site.https is not None and {r.host for r in site.https.requests} == {f"good.test:{site.https_port}"}
    assert {r.path for r in site.https.requests} == {"/", "/robots.txt", "/sitemap.xml"}
    assert resolver.calls["good.test"] == 1
    assert AuditResult.model_validate_json(result.model_dump_json()) == result
    assert summary(result) == f"good.test scores 100/100 (grade A) with 0 issues found. {NO_ISSUES}."


async def test_domain_may_be_given_as_a_url_with_odd_case_and_trailing_dot(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy()
    settings = site.settings()
    for spelling in ("GOOD.test.", "https://good.test/pricing", "good.test/"):
        result = await run_audit(spelling, settings=settings, resolver=resolver, report_url=REPORT_URL, now=now)
        assert result.domain == "good.test" and result.grade == "A"
    with pytest.raises(AuditFailure) as failure:
        await run_audit("good test", settings=settings, resolver=resolver, report_url=REPORT_URL)
    assert failure.value.kind is FailureKind.INVALID_DOMAIN


@pytest.mark.parametrize(
    ("description", "status", "finding"),
    [
        (None, "missing", phrase("seo.meta_description", Status.FAIL)),
        ("Plumbers in Leeds.", "too_short", VARIANTS["seo.meta_description:too_short"]),
        ("Plumbing " * 20, "too_long", VARIANTS["seo.meta_description:too_long"]),
    ],
)
async def test_meta_description_problems_set_status_and_top_issue(
    deploy: Deploy, resolver: FakeResolver, now: datetime, description: str | None, status: str, finding: str
) -> None:
    site = await deploy(good_routes(html_page(description=description)))
    _, profile = await audit(site, resolver, now)
    # missing = FAIL: SEO 90, overall 97; short/long = WARN: SEO 95, overall 98.5 -> 99.
    seo, score = ("90", "97") if status == "missing" else ("95", "99")
    assert profile == expected(
        now, meta_description_status=status, top_issue=finding, issues_found="1", seo_score=seo, audit_score=score
    )


@pytest.mark.parametrize(("h1s", "status", "seo", "score"), [(0, "missing", "90", "97"), (3, "multiple", "95", "99")])
async def test_h1_problems_set_h1_status(
    deploy: Deploy, resolver: FakeResolver, now: datetime, h1s: int, status: str, seo: str, score: str
) -> None:
    site = await deploy(good_routes(html_page(h1s=h1s)))
    _, profile = await audit(site, resolver, now)
    check_status = Status.FAIL if h1s == 0 else Status.WARN
    assert profile == expected(
        now,
        h1_status=status,
        top_issue=phrase("seo.h1", check_status),
        issues_found="1",
        seo_score=seo,
        audit_score=score,
    )


async def test_missing_viewport_is_not_mobile_ready(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(good_routes(html_page(viewport=None)))
    _, profile = await audit(site, resolver, now)
    # Mobile 50 (viewport FAIL, zoom PASS): 30 + 25 + 20 + 7.5 + 10 = 92.5 -> 93.
    assert profile == expected(
        now,
        mobile_ready="no",
        top_issue=phrase("mobile.viewport", Status.FAIL),
        issues_found="1",
        audit_score="93",
    )


async def test_disabled_zoom_is_not_mobile_ready(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(good_routes(html_page(viewport="width=device-width, user-scalable=no")))
    _, profile = await audit(site, resolver, now)
    assert profile == expected(
        now, mobile_ready="no", top_issue=phrase("mobile.zoom", Status.FAIL), issues_found="1", audit_score="93"
    )


async def test_missing_lang_hurts_accessibility_and_seo(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(good_routes(html_page(lang=None)))
    _, profile = await audit(site, resolver, now)
    # SEO 95 (WARN), a11y 80 (FAIL): 28.5 + 25 + 20 + 15 + 8 = 96.5 -> 97; the FAIL outranks the WARN.
    assert profile == expected(
        now,
        top_issue=phrase("a11y.lang", Status.FAIL),
        second_issue=phrase("seo.lang", Status.WARN),
        issues_found="2",
        seo_score="95",
        accessibility_score="80",
        audit_score="97",
    )


async def test_images_without_alt_rank_seo_before_accessibility(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy(good_routes(html_page(images_with_alt=1, images_without_alt=2)))
    result, profile = await audit(site, resolver, now)
    # Two FAILs of equal severity: SEO (weight 30) wins the tie; second comes from another category.
    assert profile == expected(
        now,
        top_issue=phrase("seo.img_alt", Status.FAIL),
        second_issue=phrase("a11y.img_alt", Status.FAIL),
        issues_found="2",
        seo_score="90",
        accessibility_score="80",
        audit_score="95",
    )
    assert result.page.images == 3 and result.page.images_missing_alt == 2


async def test_site_without_https_falls_back_to_http(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(https=False)
    result, profile = await audit(site, resolver, now)
    # Security: https FAIL, redirect FAIL, cert FAIL, HSTS WARN (not over https), 4 PASS = 56.25.
    # 30 + 25 + 11.25 + 15 + 10 = 91.25 -> 91.
    assert profile == expected(
        now,
        https_status="no_https",
        ssl_days_left="0",
        top_issue=phrase("sec.https", Status.FAIL),
        second_issue=phrase("sec.http_redirect", Status.FAIL),
        issues_found="4",
        security_score="56",
        audit_score="91",
    )
    assert result.final_url == f"http://good.test:{site.http_port}/"
    assert result.cert is None


async def test_expired_certificate_is_invalid_cert(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(not_after=now - timedelta(days=3), not_before=now - timedelta(days=400))
    result, profile = await audit(site, resolver, now)
    # Security 87.5 -> 88; 30 + 25 + 17.5 + 15 + 10 = 97.5 -> 98.
    assert profile == expected(
        now,
        https_status="invalid_cert",
        ssl_days_left="0",
        top_issue=VARIANTS["sec.cert:expired"],
        issues_found="1",
        security_score="88",
        audit_score="98",
    )
    assert result.cert is not None and not result.cert.valid
    assert result.cert.error is not None and "expired" in result.cert.error


async def test_certificate_for_another_name_is_invalid_cert(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy(cert_hosts=("other.test",))
    result, profile = await audit(site, resolver, now)
    assert profile["https_status"] == "invalid_cert"
    assert profile["top_issue"] == phrase("sec.cert", Status.FAIL)
    assert result.cert is not None and result.cert.names == ["other.test"]
    assert result.cert.error is not None and "mismatch" in result.cert.error.lower()


async def test_certificate_expiring_within_30_days_is_expiring_cert(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy(not_after=now + timedelta(days=10, hours=12))
    _, profile = await audit(site, resolver, now)
    # Security 93.75 -> 94; 30 + 25 + 18.75 + 15 + 10 = 98.75 -> 99.
    assert profile == expected(
        now,
        https_status="expiring_cert",
        ssl_days_left="10",
        top_issue=phrase("sec.cert", Status.WARN),
        issues_found="1",
        security_score="94",
        audit_score="99",
    )


async def test_http_serving_the_page_is_no_redirect(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(http_routes=good_routes())
    _, profile = await audit(site, resolver, now)
    assert profile == expected(
        now,
        https_status="no_redirect",
        top_issue=phrase("sec.http_redirect", Status.FAIL),
        issues_found="1",
        security_score="88",
        audit_score="98",
    )


async def test_slow_first_byte_warns_and_is_reported_in_load_time(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    page = Reply(200, dict(SECURE_HEADERS), html_page(), gzip=True, delay_s=0.66)
    site = await deploy(good_routes(**{"/": page}))
    result, profile = await audit(site, resolver, now)
    # Performance 91.67 -> 92; 30 + 22.92 + 20 + 15 + 10 = 97.92 -> 98.
    assert profile == expected(
        now,
        load_time_s="0.7",
        top_issue=phrase("perf.ttfb", Status.WARN),
        issues_found="1",
        performance_score="92",
        audit_score="98",
    )
    assert 660 <= result.timings.ttfb_ms < 750


async def test_response_slower_than_request_timeout_fails_the_audit(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    page = Reply(200, dict(SECURE_HEADERS), html_page(), delay_s=5.0)
    site = await deploy(good_routes(**{"/": page}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, request_timeout_s=0.4)
    assert failure.value.kind is FailureKind.TIMEOUT
    assert "did not finish answering within 0.4 s" in failure.value.message


async def test_trickling_page_is_cut_by_the_total_budget(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    page = Reply(200, {"Content-Type": "text/html"}, stream=lambda: trickle(200, 0.05))
    site = await deploy(good_routes(**{"/": page}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, request_timeout_s=5.0, total_budget_s=0.6)
    assert failure.value.kind is FailureKind.TIMEOUT
    assert "took longer than 0.6 s" in failure.value.message


@pytest.mark.parametrize("declared", [True, False])
async def test_body_over_the_size_cap_fails_the_audit(
    deploy: Deploy, resolver: FakeResolver, now: datetime, declared: bool
) -> None:
    async def stream():  # type: ignore[no-untyped-def]
        for _ in range(48):
            yield b"a" * 65536

    huge = (
        Reply(200, {"Content-Type": "text/html"}, b"a" * 3_000_000)
        if declared
        else Reply(200, {"Content-Type": "text/html"}, stream=stream)
    )
    site = await deploy(good_routes(**{"/": huge}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, max_body_bytes=1_000_000)
    assert failure.value.kind is FailureKind.TOO_LARGE
    assert "larger than 1,000,000 bytes" in failure.value.message


async def test_gzip_bomb_is_stopped_at_the_decompressed_cap(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    bomb = gzip_bomb(64)  # 64 MiB of zeros in ~64 KB
    assert len(bomb) < 100_000
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    site = await deploy(good_routes(**{"/": Reply(200, headers, bomb)}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, max_decoded_bytes=2_000_000)
    assert failure.value.kind is FailureKind.TOO_LARGE
    assert "when decompressed" in failure.value.message


async def test_redirect_chain_is_followed_and_recorded(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    routes = good_routes()
    site = await deploy(routes)
    port = site.https_port
    routes["/"] = Reply(301, {"Location": f"https://www.good.test:{port}/start"})
    routes["/start"] = Reply(302, {"Location": "/home"})
    routes["/home"] = good_routes()["/"]
    result, profile = await audit(site, resolver, now)
    assert profile == expected(now)
    assert [(h.url, h.status) for h in result.redirect_chain] == [
        (f"https://good.test:{port}/", 301),
        (f"https://www.good.test:{port}/start", 302),
        (f"https://www.good.test:{port}/home", 200),
    ]
    assert result.final_url == f"https://www.good.test:{port}/home"
    assert resolver.calls["www.good.test"] == 1


async def test_redirect_loop_fails_the_audit(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    site = await deploy(good_routes(**{"/": Reply(302, {"Location": "/a"}), "/a": Reply(302, {"Location": "/"})}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now)
    assert failure.value.kind is FailureKind.REDIRECT_LOOP


async def test_too_many_redirects_fail_the_audit(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    hops = {f"/{i}": Reply(302, {"Location": f"/{i + 1}"}) for i in range(1, 10)}
    site = await deploy(good_routes(**{"/": Reply(302, {"Location": "/1"}), **hops}))
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now, max_redirects=3)
    assert failure.value.kind is FailureKind.TOO_MANY_REDIRECTS
    assert site.https is not None and len(site.https.requests) == 4


async def test_unknown_domain_fails_with_dns_failure(deploy: Deploy, now: datetime) -> None:
    site = await deploy()
    with pytest.raises(AuditFailure) as failure:
        await audit(site, FakeResolver({}), now)
    assert failure.value.kind is FailureKind.DNS_FAILURE
    assert "good.test could not be found in DNS" in failure.value.message


async def test_nothing_listening_fails_with_connection_refused(
    deploy: Deploy, resolver: FakeResolver, now: datetime
) -> None:
    site = await deploy(https=False)
    assert site.http is not None
    await site.http.stop()  # https port was never bound; now http is closed too
    with pytest.raises(AuditFailure) as failure:
        await audit(site, resolver, now)
    assert failure.value.kind is FailureKind.CONNECTION_REFUSED
    assert "could not be reached over https or http" in failure.value.message


async def test_email_auth_partial_and_none(deploy: Deploy, now: datetime) -> None:
    site = await deploy()
    names = {"good.test": ["127.0.0.1"]}
    _, partial = await audit(site, FakeResolver(names, txt={"good.test": ["v=spf1 ~all"]}), now)
    _, quarantine = await audit(
        site,
        FakeResolver(names, txt={"good.test": ["v=spf1 -all"], "_dmarc.good.test": ["v=DMARC1; p=quarantine"]}),
        now,
    )
    _, monitoring = await audit(
        site, FakeResolver(names, txt={"good.test": ["v=spf1 -all"], "_dmarc.good.test": ["v=DMARC1; p=none"]}), now
    )
    _, none = await audit(site, FakeResolver(names), now)
    assert (partial["email_auth_status"], quarantine["email_auth_status"]) == ("partial", "enforced")
    assert (monitoring["email_auth_status"], none["email_auth_status"]) == ("partial", "none")


async def test_security_headers_missing_and_noindex(deploy: Deploy, resolver: FakeResolver, now: datetime) -> None:
    page = Reply(
        200,
        {"Content-Type": "text/html", "X-Robots-Tag": "noindex"},
        html_page(head_extra='<script src="/a.js"></script><script src="/b.js"></script>'),
        gzip=True,
    )
    site = await deploy(good_routes(**{"/": page, "/robots.txt": Reply(404), "/sitemap.xml": Reply(404)}))
    result, profile = await audit(site, resolver, now)
    statuses = {c.id: c.status for c in result.checks if c.status is not Status.PASS}
    assert statuses == {
        "seo.indexable": Status.FAIL,
        "seo.robots_txt": Status.WARN,
        "seo.sitemap": Status.WARN,
        "perf.render_blocking": Status.WARN,
        "perf.cache": Status.WARN,
        "sec.hsts": Status.WARN,
        "sec.csp": Status.WARN,
        "sec.nosniff": Status.WARN,
        "sec.frame": Status.WARN,
    }
    # SEO 80, perf 83.33, security 75: 24 + 20.83 + 15 + 15 + 10 = 84.83 -> 85.
    assert profile == expected(
        now,
        audit_grade="B",
        audit_score="85",
        top_issue=phrase("seo.indexable", Status.FAIL),
        second_issue=phrase("perf.render_blocking", Status.WARN),
        issues_found="9",
        seo_score="80",
        performance_score="83",
        security_score="75",
    )
