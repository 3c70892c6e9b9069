"""Tolerant readers for the 18-key audit profile: odd or missing values read as None, never raise."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from copywriter.sanitise import clean_text

_INT = re.compile(r"^-?\d{1,6}$")
_DECIMAL = re.compile(r"^\d{1,4}(\.\d+)?$")


def text(profile: Mapping[str, object], key: str, *, max_len: int = 90) -> str:
    return clean_text(profile.get(key), max_len=max_len)


def enum(profile: Mapping[str, object], key: str) -> str:
    return clean_text(profile.get(key), max_len=40, keep_null_words=True).lower()


def integer(profile: Mapping[str, object], key: str, *, lo: int = 0, hi: int = 100_000) -> int | None:
    raw = profile.get(key)
    value = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else text(profile, key)
    if not _INT.match(value):
        return None
    number = int(value)
    return number if lo <= number <= hi else None


def decimal(profile: Mapping[str, object], key: str) -> float | None:
    raw = profile.get(key)
    value = str(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else text(profile, key)
    return float(value) if _DECIMAL.match(value) else None


def https_url(profile: Mapping[str, object], key: str) -> str:
    value = text(profile, key, max_len=500)
    if " " in value:
        return ""
    parts = urlsplit(value)
    return value if parts.scheme == "https" and parts.netloc else ""
