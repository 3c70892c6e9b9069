"""The public report page `/r/<slug>`: a self-contained HTML page (no scripts, no external resources) for a
business owner. Every value from the audit is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any, Final

from audits.domain.findings import BY_ID
from audits.domain.grading import WEIGHTS, Category

CATEGORY_LABELS: Final = {
    Category.SEO: "Search (SEO)",
    Category.PERFORMANCE: "Speed",
    Category.SECURITY: "Security",
    Category.MOBILE: "Mobile",
    Category.ACCESSIBILITY: "Accessibility",
}
STATUS_CLASS: Final = {"PASS": "pass", "WARN": "warn", "FAIL": "fail"}
GRADE_COLOUR: Final = {"A": "#1a7f37", "B": "#4d8f1a", "C": "#b08800", "D": "#c4621b", "F": "#c62828"}

_STYLE: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:860px;margin:0 auto;padding:32px 20px}
header{display:flex;gap:24px;align-items:center;background:#fff;border-radius:12px;padding:24px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
.grade{width:96px;height:96px;border-radius:50%;display:flex;align-items:center;justify-content:center;
font-size:48px;font-weight:700;color:#fff;flex:none}
h1{font-size:24px;margin:0 0 6px} .muted{color:#5b6475} section{background:#fff;border-radius:12px;
padding:20px 24px;margin-top:20px;box-shadow:0 1px 3px rgba(0,0,0,.08)} h2{font-size:18px;margin:0 0 14px}
.bar{display:grid;grid-template-columns:170px 1fr 48px;gap:12px;align-items:center;margin:8px 0}
.track{background:#e8ebf0;border-radius:6px;height:12px;overflow:hidden} .fill{height:12px;border-radius:6px}
table{width:100%;border-collapse:collapse} td,th{text-align:left;padding:8px 6px;border-top:1px solid #eceff3;
vertical-align:top;font-size:14px} .badge{font-weight:700;font-size:12px;padding:2px 8px;border-radius:10px}
.pass{background:#dcf5e3;color:#1a7f37} .warn{background:#fff4cc;color:#8a6100} .fail{background:#fde2e1;color:#b42318}
"""


def _bar_colour(score: int) -> str:
    return "#1a7f37" if score >= 90 else "#b08800" if score >= 70 else "#c62828"


def _category_bars(categories: Mapping[str, int]) -> str:
    rows = []
    for category in Category:
        score = int(categories.get(category.value, 0))
        rows.append(
            f'<div class="bar"><span>{escape(CATEGORY_LABELS[category])} '
            f'<span class="muted">({WEIGHTS[category]}%)</span></span>'
            f'<div class="track" role="img" aria-label="{score} out of 100">'
            f'<div class="fill" style="width:{max(0, min(score, 100))}%;background:{_bar_colour(score)}"></div></div>'
            f"<strong>{score}</strong></div>"
        )
    return "".join(rows)


def _checks_table(checks: list[Mapping[str, Any]]) -> str:
    order = {"FAIL": 0, "WARN": 1, "PASS": 2}
    rows = []
    for check in sorted(checks, key=lambda c: order.get(str(c.get("status")), 3)):
        status = str(check.get("status", ""))
        spec = BY_ID.get(str(check.get("id", "")))
        label = spec.label if spec else str(check.get("id", ""))
        category = CATEGORY_LABELS.get(Category(check["category"]), "") if check.get("category") in set(
            Category) else ""
        detail = str(check.get("detail") or "")
        rows.append(
            f'<tr><td><span class="badge {STATUS_CLASS.get(status, "")}">{escape(status)}</span></td>'
            f"<td>{escape(str(check.get('finding', '')))}"
            + (f'<div class="muted">{escape(detail)}</div>' if detail else "")
            + f'</td><td class="muted">{escape(category)}<br>{escape(label)}</td></tr>'
        )
    return "<table><thead><tr><th>Result</th><th>Finding</th><th>Check</th></tr></thead><tbody>" + "".join(
        rows) + "</tbody></table>"


def render_report(*, domain: str, grade: str, score: int, categories: Mapping[str, int],
                  result: Mapping[str, Any], profile: Mapping[str, str], summary: str,
                  audited_at: datetime) -> str:
    checks = list(result.get("checks") or [])
    issues = [c for c in checks if c.get("status") != "PASS"]
    colour = GRADE_COLOUR.get(grade, "#5b6475")
    facts = [
        ("Load time", f"{profile.get('load_time_s', '?')} s"),
        ("HTTPS", profile.get("https_status", "")),
        ("Certificate days left", profile.get("ssl_days_left", "")),
        ("Mobile ready", profile.get("mobile_ready", "")),
        ("Email authentication", profile.get("email_auth_status", "")),
        ("Final address", str(result.get("final_url", ""))),
    ]
    fact_rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>Website report for {escape(domain)} - grade {escape(grade)}</title>"
        f"<style>{_STYLE}</style></head><body><main>"
        f'<header><div class="grade" style="background:{colour}" aria-label="grade {escape(grade)}">'
        f"{escape(grade)}</div><div><h1>Website report for {escape(domain)}</h1>"
        f'<div><strong>{score}/100</strong> &middot; grade {escape(grade)} &middot; '
        f'{len(issues)} issue{"" if len(issues) == 1 else "s"} found</div>'
        f'<div class="muted">Checked on {escape(audited_at.strftime("%d %B %Y"))}</div></div></header>'
        f"<section><h2>Summary</h2><p>{escape(summary)}</p>"
        f"<p><strong>Most important:</strong> {escape(profile.get('top_issue', ''))}<br>"
        f"<strong>Next:</strong> {escape(profile.get('second_issue', ''))}</p></section>"
        f"<section><h2>Scores by area</h2>{_category_bars(categories)}</section>"
        f"<section><h2>What we checked</h2>{_checks_table(checks)}</section>"
        f"<section><h2>Key facts</h2><table>{fact_rows}</table></section>"
        "</main></body></html>"
    )


def not_found_page() -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>Report not found</title><style>{_STYLE}</style></head><body><main><section>"
        "<h1>Report not found</h1><p>This report does not exist or is not ready yet. "
        "Check the link you were sent.</p></section></main></body></html>"
    )
