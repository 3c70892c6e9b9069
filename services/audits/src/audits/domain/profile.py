"""The 18-key slim profile (contracts.profile; docs/ARCHITECTURE.md, The audit), derived from a full AuditResult, and the
pure rules behind its enum values."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from audits.domain.findings import NO_ISSUES, NOTHING_ELSE, ORDER
from audits.domain.grading import WEIGHTS, Category, Status, round_half_up
from audits.domain.result import AuditResult, CertInfo, CheckResult, EmailAuth
from contracts.profile import PROFILE_KEYS

META_MIN: Final = 70
META_MAX: Final = 160
EXPIRY_WARNING_DAYS: Final = 30
_SEVERITY: Final = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2}


def meta_description_status(text: str | None) -> str:
    if text is None or not text.strip():
        return "missing"
    length = len(text.strip())
    if length < META_MIN:
        return "too_short"
    if length > META_MAX:
        return "too_long"
    return "ok"


def h1_status(count: int) -> str:
    return "missing" if count == 0 else "ok" if count == 1 else "multiple"


def email_auth_status(auth: EmailAuth) -> str:
    """`enforced` = SPF and DMARC quarantine/reject; `partial` = either record present; else `none`."""
    if auth.spf and auth.dmarc_policy in ("quarantine", "reject"):
        return "enforced"
    if auth.spf or auth.dmarc:
        return "partial"
    return "none"


def https_status(https_available: bool, cert: CertInfo | None, http_redirects_to_https: bool | None) -> str:
    """Worst state first: no HTTPS, bad certificate, expiring certificate, missing redirect."""
    if not https_available:
        return "no_https"
    if cert is None or not cert.valid:
        return "invalid_cert"
    if cert.days_left < EXPIRY_WARNING_DAYS:
        return "expiring_cert"
    if not http_redirects_to_https:
        return "no_redirect"
    return "secure"


def ssl_days_left(cert: CertInfo | None) -> int:
    return max(cert.days_left, 0) if cert is not None and cert.valid else 0


def ranked_findings(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """FAILs before WARNs; ties go to the heavier category, then to catalogue order."""
    issues = [c for c in checks if c.status is not Status.PASS]
    return sorted(issues, key=lambda c: (_SEVERITY[c.status], -WEIGHTS[c.category], ORDER.get(c.id, 999)))


def top_two_issues(checks: Sequence[CheckResult]) -> tuple[str, str]:
    """Top issue, and the next finding from a different category (else the next one at all)."""
    ranked = ranked_findings(checks)
    if not ranked:
        return NO_ISSUES, NOTHING_ELSE
    top = ranked[0]
    rest = [c for c in ranked[1:] if c.finding != top.finding]
    second = next((c for c in rest if c.category is not top.category), rest[0] if rest else None)
    return top.finding, second.finding if second is not None else NOTHING_ELSE


def issues_found(checks: Sequence[CheckResult]) -> int:
    return sum(1 for c in checks if c.status is not Status.PASS)


def mobile_ready(checks: Sequence[CheckResult]) -> bool:
    mobile = [c for c in checks if c.category is Category.MOBILE]
    return bool(mobile) and all(c.status is Status.PASS for c in mobile)


def category_score(result: AuditResult, category: Category) -> int:
    return next(c.score for c in result.categories if c.category is category)


def summary(result: AuditResult) -> str:
    """One sentence for the operator and the report page."""
    top, _ = top_two_issues(result.checks)
    count = issues_found(result.checks)
    noun = "issue" if count == 1 else "issues"
    return f"{result.domain} scores {result.score}/100 (grade {result.grade}) with {count} {noun} found. {top}."


def derive_profile(result: AuditResult) -> dict[str, str]:
    """The exact 18 merge fields, every value a non-empty string."""
    top, second = top_two_issues(result.checks)
    load_s = round_half_up(Decimal(str(result.timings.load_ms)) / Decimal(1000), 1)
    profile = {
        "audit_grade": result.grade,
        "audit_score": str(result.score),
        "audit_url": result.report_url,
        "audit_date": result.audited_at.date().isoformat(),
        "top_issue": top,
        "second_issue": second,
        "issues_found": str(issues_found(result.checks)),
        "seo_score": str(category_score(result, Category.SEO)),
        "performance_score": str(category_score(result, Category.PERFORMANCE)),
        "security_score": str(category_score(result, Category.SECURITY)),
        "accessibility_score": str(category_score(result, Category.ACCESSIBILITY)),
        "mobile_ready": "yes" if mobile_ready(result.checks) else "no",
        "load_time_s": f"{load_s:.1f}",
        "https_status": https_status(result.https_available, result.cert, result.http_redirects_to_https),
        "ssl_days_left": str(ssl_days_left(result.cert)),
        "meta_description_status": meta_description_status(result.page.meta_description),
        "h1_status": h1_status(result.page.h1_count),
        "email_auth_status": email_auth_status(result.email_auth),
    }
    assert tuple(profile) == PROFILE_KEYS, "profile keys drifted from the contract"
    return profile
