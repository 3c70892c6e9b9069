"""The audit's merge-variable vocabulary (docs/ARCHITECTURE.md, The audit): the 18 slim-profile keys and
the body keys of generated copy. Data only; the rules that use it live in the services."""

from __future__ import annotations

from typing import Final

PROFILE_KEYS: Final[tuple[str, ...]] = (
    "audit_grade",
    "audit_score",
    "audit_url",
    "audit_date",
    "top_issue",
    "second_issue",
    "issues_found",
    "seo_score",
    "performance_score",
    "security_score",
    "accessibility_score",
    "mobile_ready",
    "load_time_s",
    "https_status",
    "ssl_days_left",
    "meta_description_status",
    "h1_status",
    "email_auth_status",
)

BODY_FIELDS: Final[tuple[str, ...]] = ("email_subject", "email_body", "email_cta")


def body_keys(steps: int) -> tuple[str, ...]:
    """Body keys for a campaign of `steps` steps: the unsuffixed step-1 aliases plus `_1.._N`."""
    keys = list(BODY_FIELDS)
    for n in range(1, max(steps, 1) + 1):
        keys.extend(f"{field}_{n}" for field in BODY_FIELDS)
    return tuple(keys)


GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D", "F")
HTTPS_STATUSES: Final[tuple[str, ...]] = ("secure", "no_https", "no_redirect", "invalid_cert", "expiring_cert")
META_DESCRIPTION_STATUSES: Final[tuple[str, ...]] = ("ok", "missing", "too_short", "too_long")
H1_STATUSES: Final[tuple[str, ...]] = ("ok", "missing", "multiple")
EMAIL_AUTH_STATUSES: Final[tuple[str, ...]] = ("enforced", "partial", "none")
