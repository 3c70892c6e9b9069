"""What a populated merge variable looks like (docs/TEMPLATES.md).

A value is populated when it is a string that, trimmed, is non-empty, is not a null literal, contains
no `{{` and matches the type of its key. Body keys and contact fields are free text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from urllib.parse import urlsplit

from contracts.profile import (
    EMAIL_AUTH_STATUSES,
    GRADES,
    H1_STATUSES,
    HTTPS_STATUSES,
    META_DESCRIPTION_STATUSES,
)

NULL_LITERALS = frozenset({"null", "none", "undefined", "nan"})
_INT = re.compile(r"^\d+$")
_ONE_DP = re.compile(r"^\d+\.\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISSUE_MAX = 90


def _score(value: str) -> bool:
    return bool(_INT.match(value)) and int(value) <= 100


def _count(value: str) -> bool:
    return bool(_INT.match(value))


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_url(value: str) -> bool:
    """An https URL; plain http only for a loopback host (a local deployment's own report pages)."""
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    return secure and bool(parts.hostname) and not any(c.isspace() for c in value)


def _iso_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda value: value in allowed


def _issue(value: str) -> bool:
    return len(value) <= ISSUE_MAX


TYPE_CHECKS: dict[str, Callable[[str], bool]] = {
    "audit_grade": _one_of(GRADES),
    "audit_score": _score,
    "audit_url": _https_url,
    "audit_date": _iso_date,
    "top_issue": _issue,
    "second_issue": _issue,
    "issues_found": _count,
    "seo_score": _score,
    "performance_score": _score,
    "security_score": _score,
    "accessibility_score": _score,
    "mobile_ready": _one_of(("yes", "no")),
    "load_time_s": lambda value: bool(_ONE_DP.match(value)),
    "https_status": _one_of(HTTPS_STATUSES),
    # "0 if none/invalid": a negative count of days is never produced, so it is refused as malformed.
    "ssl_days_left": _count,
    "meta_description_status": _one_of(META_DESCRIPTION_STATUSES),
    "h1_status": _one_of(H1_STATUSES),
    "email_auth_status": _one_of(EMAIL_AUTH_STATUSES),
}
# Enum keys whose legitimate values include a word that elsewhere means "no value".
_NULL_WORD_IS_VALUE = frozenset({"email_auth_status"})


def as_text(value: object) -> str | None:
    """Stored JSON value → the string PlusVibe would render; None when it is no usable scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def is_populated(key: str, value: object) -> bool:
    """True when `value` would render as real content for merge key `key`."""
    text = as_text(value)
    if text is None:
        return False
    trimmed = text.strip()
    if not trimmed or "{{" in trimmed:
        return False
    if trimmed.lower() in NULL_LITERALS and key not in _NULL_WORD_IS_VALUE:
        return False
    check = TYPE_CHECKS.get(key)
    return check is None or check(trimmed)
