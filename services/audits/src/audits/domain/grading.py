"""Scoring rules: PASS/WARN/FAIL = 100/50/0, category = mean of its checks, overall = weighted
categories (SEO 30, performance 25, security 20, mobile 15, accessibility 10), grade bands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


class Category(StrEnum):
    SEO = "seo"
    PERFORMANCE = "performance"
    SECURITY = "security"
    MOBILE = "mobile"
    ACCESSIBILITY = "accessibility"


POINTS: Final[Mapping[Status, int]] = {Status.PASS: 100, Status.WARN: 50, Status.FAIL: 0}
WEIGHTS: Final[Mapping[Category, int]] = {
    Category.SEO: 30,
    Category.PERFORMANCE: 25,
    Category.SECURITY: 20,
    Category.MOBILE: 15,
    Category.ACCESSIBILITY: 10,
}
GRADE_BANDS: Final[tuple[tuple[int, str], ...]] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"))


def round_half_up(value: Decimal | float, places: int = 0) -> Decimal:
    """Commercial rounding (2.5 -> 3), not Python's banker's rounding."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def category_mean(statuses: Iterable[Status]) -> Decimal:
    """Mean points of a category's checks (exact)."""
    points = [POINTS[s] for s in statuses]
    if not points:
        raise ValueError("a category needs at least one check")
    return Decimal(sum(points)) / Decimal(len(points))


def overall_score(means: Mapping[Category, Decimal]) -> int:
    """Weighted overall from exact category means, rounded half up once at the end."""
    total = sum((means[c] * WEIGHTS[c] for c in Category), Decimal(0)) / Decimal(100)
    return int(round_half_up(total))


def grade_for(score: int) -> str:
    for floor, grade in GRADE_BANDS:
        if score >= floor:
            return grade
    return "F"
