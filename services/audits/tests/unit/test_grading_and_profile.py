"""Scoring, ranking and the 18-key profile (pure domain rules)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audits.domain.findings import CHECKS, NO_ISSUES, NOTHING_ELSE, VARIANTS, phrase
from audits.domain.grading import POINTS, Category, Status, category_mean, grade_for, overall_score
from audits.domain.profile import (
    derive_profile,
    email_auth_status,
    h1_status,
    https_status,
    meta_description_status,
    ranked_findings,
    top_two_issues,
)
from audits.domain.result import (
    AuditResult,
    CategoryScore,
    CertInfo,
    CheckResult,
    EmailAuth,
    PageFacts,
    Timings,
)
from contracts.profile import (
    EMAIL_AUTH_STATUSES,
    GRADES,
    H1_STATUSES,
    HTTPS_STATUSES,
    META_DESCRIPTION_STATUSES,
    PROFILE_KEYS,
)


def check(check_id: str, status: Status) -> CheckResult:
    spec = next(s for s in CHECKS if s.id == check_id)
    return CheckResult(
        id=check_id, category=spec.category, status=status, points=POINTS[status], finding=phrase(check_id, status)
    )


@pytest.mark.parametrize(
    ("score", "grade"),
    [(100, "A"), (90, "A"), (89, "B"), (80, "B"), (79, "C"), (70, "C"), (69, "D"), (60, "D"), (59, "F"), (0, "F")],
)
def test_grade_bands(score: int, grade: str) -> None:
    assert grade_for(score) == grade


def test_category_is_mean_and_overall_is_weighted_then_rounded_half_up() -> None:
    assert category_mean([Status.PASS, Status.WARN, Status.FAIL]) == Decimal(50)
    means = {c: Decimal(100) for c in Category}
    means[Category.MOBILE] = Decimal(50)  # 100 - 7.5 = 92.5 -> 93, not banker's 92
    assert overall_score(means) == 93
    means = {c: Decimal(0) for c in Category}
    means[Category.SEO] = Decimal(100)
    assert overall_score(means) == 30


def test_every_finding_is_short_business_language() -> None:
    phrases = [p for spec in CHECKS for p in (spec.fail, spec.warn, spec.ok)] + list(VARIANTS.values())
    phrases += [NO_ISSUES, NOTHING_ELSE]
    assert all(0 < len(p) <= 90 for p in phrases), [p for p in phrases if len(p) > 90]
    assert not any(re.search(r"\b(HTTP|TTFB|h1|meta|alt|CSP|HSTS|DMARC|canonical|viewport)\b", p) for p in phrases)


def test_top_issue_is_worst_fail_tie_broken_by_category_weight() -> None:
    checks = [
        check("a11y.lang", Status.FAIL),
        check("perf.cache", Status.WARN),
        check("sec.https", Status.FAIL),
        check("seo.lang", Status.WARN),
        check("seo.sitemap", Status.WARN),
    ]
    assert [c.id for c in ranked_findings(checks)] == [
        "sec.https",
        "a11y.lang",
        "seo.sitemap",
        "seo.lang",
        "perf.cache",
    ]
    assert top_two_issues(checks) == (phrase("sec.https", Status.FAIL), phrase("a11y.lang", Status.FAIL))


def test_second_issue_comes_from_another_category_when_there_is_one() -> None:
    checks = [check("seo.title", Status.FAIL), check("seo.h1", Status.FAIL), check("perf.cache", Status.WARN)]
    assert top_two_issues(checks) == (phrase("seo.title", Status.FAIL), phrase("perf.cache", Status.WARN))
    same = [check("seo.title", Status.FAIL), check("seo.h1", Status.FAIL)]
    assert top_two_issues(same) == (phrase("seo.title", Status.FAIL), phrase("seo.h1", Status.FAIL))
    assert top_two_issues([check("seo.title", Status.PASS)]) == (NO_ISSUES, NOTHING_ELSE)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (None, "missing"),
        ("  ", "missing"),
        ("x" * 69, "too_short"),
        ("x" * 70, "ok"),
        ("x" * 160, "ok"),
        ("x" * 161, "too_long"),
    ],
)
def test_meta_description_status(text: str | None, status: str) -> None:
    assert meta_description_status(text) == status


def test_h1_and_email_auth_rules() -> None:
    assert [h1_status(n) for n in (0, 1, 2)] == ["missing", "ok", "multiple"]
    assert (
        email_auth_status(EmailAuth(spf="v=spf1 -all", dmarc="v=DMARC1; p=reject", dmarc_policy="reject")) == "enforced"
    )
    assert email_auth_status(EmailAuth(spf="v=spf1 -all", dmarc="v=DMARC1; p=none", dmarc_policy="none")) == "partial"
    assert email_auth_status(EmailAuth(dmarc="v=DMARC1; p=reject", dmarc_policy="reject")) == "partial"
    assert email_auth_status(EmailAuth()) == "none"


def test_https_status_reports_the_worst_state_first() -> None:
    good = CertInfo(valid=True, days_left=200)
    assert https_status(False, None, False) == "no_https"
    assert https_status(True, CertInfo(valid=False), True) == "invalid_cert"
    assert https_status(True, CertInfo(valid=True, days_left=29), False) == "expiring_cert"
    assert https_status(True, good, False) == "no_redirect"
    assert https_status(True, good, None) == "no_redirect"
    assert https_status(True, good, True) == "secure"


def _result(checks: list[CheckResult], load_ms: float) -> AuditResult:
    means = {c: category_mean(ch.status for ch in checks if ch.category is c) for c in Category}
    score = overall_score(means)
    return AuditResult(
        domain="good.test",
        audited_at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
        report_url="https://reports.outreach.test/r/abc",
        requested_url="https://good.test/",
        final_url="https://good.test/",
        status_code=200,
        https_available=True,
        http_redirects_to_https=True,
        cert=CertInfo(valid=True, days_left=75),
        redirect_chain=[],
        timings=Timings(ttfb_ms=100, load_ms=load_ms, audit_ms=300),
        headers={},
        page=PageFacts(meta_description="x" * 30, h1_count=2),
        robots_txt=None,
        sitemap_found=False,
        email_auth=EmailAuth(),
        checks=checks,
        categories=[CategoryScore(category=c, score=int(means[c]), weight=1) for c in Category],
        score=score,
        grade=grade_for(score),
    )


def test_profile_has_exactly_the_18_keys_as_well_formed_strings() -> None:
    checks = [check(spec.id, Status.PASS) for spec in CHECKS]
    checks[1] = check("seo.title", Status.FAIL)
    profile = derive_profile(_result(checks, load_ms=1249.9))
    assert tuple(profile) == PROFILE_KEYS
    assert all(isinstance(v, str) and v.strip() for v in profile.values())
    assert profile["audit_grade"] in GRADES
    assert profile["https_status"] in HTTPS_STATUSES
    assert profile["meta_description_status"] in META_DESCRIPTION_STATUSES == ("ok", "missing", "too_short", "too_long")
    assert profile["h1_status"] in H1_STATUSES
    assert profile["email_auth_status"] in EMAIL_AUTH_STATUSES
    assert profile["load_time_s"] == "1.2"
    assert profile["audit_date"] == "2026-03-01"
    assert profile["ssl_days_left"] == "75"
    assert (profile["meta_description_status"], profile["h1_status"]) == ("too_short", "multiple")
    assert profile["issues_found"] == "1"
    assert profile["top_issue"] == phrase("seo.title", Status.FAIL)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", profile["audit_date"])
    assert profile["audit_score"] == "97" and profile["seo_score"] == "90"


def test_load_time_rounds_half_up_to_one_decimal() -> None:
    checks = [check(spec.id, Status.PASS) for spec in CHECKS]
    assert derive_profile(_result(checks, load_ms=1250.0))["load_time_s"] == "1.3"
    assert derive_profile(_result(checks, load_ms=40.0))["load_time_s"] == "0.0"
