"""Follow-up angles used once the audit's findings are all cited: none of them restates a finding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from copywriter import profile_values as pv


@dataclass(frozen=True)
class Angle:
    key: str
    topic: str
    sentence: str


def score_summary(profile: Mapping[str, object], site: str) -> str:
    """"Overall, x scored 62/100 (grade D), with 9 points to improve." or "" when the score is unusable."""
    score = pv.integer(profile, "audit_score", hi=100)
    if score is None:
        return ""
    grade = pv.text(profile, "audit_grade", max_len=1).upper()
    graded = f" (grade {grade})" if grade in {"A", "B", "C", "D", "F"} else ""
    issues = pv.integer(profile, "issues_found")
    tail = f", with {issues} points to improve" if issues else ""
    return f"Overall, {site} scored {score}/100{graded} across search, speed, security, mobile and accessibility{tail}."


def report_line(profile: Mapping[str, object]) -> str:
    url = pv.https_url(profile, "audit_url")
    return f"The full report, with every check explained: {url}" if url else ""


def angles(profile: Mapping[str, object], site: str) -> list[Angle]:
    """Angles in citing order; the sequence cycles through them if it is longer still."""
    overview = score_summary(profile, site) or (
        "The audit covered search, speed, security, mobile and accessibility, and most fixes are quick."
    )
    report = report_line(profile) or "I can send the full report, with every check explained."
    return [
        Angle("overview", "the overall picture", overview),
        Angle("report", "the full report", report),
        Angle("quick_wins", "quick wins", "Most of these fixes are small and need no redesign, often a day or two of work."),
        Angle(
            "competitors",
            "standing out from competitors",
            "Competitors who get these basics right tend to rank higher and win the click.",
        ),
        Angle("close", "closing the loop", "I will not keep filling your inbox: this is my last note about the audit."),
    ]
