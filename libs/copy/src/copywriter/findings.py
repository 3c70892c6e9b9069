"""Turning an audit profile into an ordered list of distinct findings, one per email step.

Order: the audit's own `top_issue` and `second_issue`, then findings derived from the enum and score
keys. A derived finding is skipped when the top/second issue already talks about the same topic, so
no two steps cite the same problem in different words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from copywriter import profile_values as pv


@dataclass(frozen=True)
class Finding:
    key: str  # which profile key it comes from, e.g. "top_issue", "https_status"
    topic: str  # short label for subjects, e.g. "security warning"
    headline: str  # business phrasing, no trailing full stop
    impact: str  # why it matters, a full sentence


# Topic keywords: a free-text issue mentioning one of these already covers that derived finding.
_TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "https_status": ("https", "secure", "certificate", "ssl", "tls"),
    "meta_description_status": ("meta description", "description", "snippet"),
    "h1_status": ("h1", "heading"),
    "mobile_ready": ("mobile", "viewport", "phone", "zoom"),
    "email_auth_status": ("spf", "dmarc", "email auth", "spoof", "spam"),
    "performance": ("load", "slow", "speed", "second", "ttfb", "performance"),
    "seo_score": ("seo", "search", "google", "ranking", "index"),
    "accessibility_score": ("accessib", "alt text", "screen reader", "label"),
    "security_score": ("security", "header", "hsts", "clickjack"),
}


def _topic_of(issue: str) -> str | None:
    lowered = issue.lower()
    for key, words in _TOPIC_WORDS.items():
        if any(word in lowered for word in words):
            return key
    return None


_TOPIC_LABELS: dict[str | None, str] = {
    "https_status": "security warning",
    "meta_description_status": "search snippet",
    "h1_status": "page heading",
    "mobile_ready": "mobile layout",
    "email_auth_status": "email deliverability",
    "performance": "page speed",
    "seo_score": "search visibility",
    "accessibility_score": "accessibility",
    "security_score": "site security",
    None: "website audit",
}


def _https(profile: Mapping[str, object]) -> Finding | None:
    status = pv.enum(profile, "https_status")
    days = pv.integer(profile, "ssl_days_left", lo=0)
    headlines = {
        "no_https": "the site does not use HTTPS, so browsers mark it 'Not secure'",
        "no_redirect": "visitors who type the plain http address are not sent to the secure version",
        "invalid_cert": "the security certificate is not valid, so browsers show a warning page",
        "expiring_cert": (
            f"the security certificate expires in {days} days" if days is not None
            else "the security certificate expires soon"
        ),
    }
    if status not in headlines:
        return None
    impact = "Most visitors leave when the browser warns them, and search engines rank such sites lower."
    return Finding("https_status", _TOPIC_LABELS["https_status"], headlines[status], impact)


def _meta(profile: Mapping[str, object]) -> Finding | None:
    headlines = {
        "missing": "the homepage has no meta description, so search engines pick a random snippet",
        "too_short": "the homepage meta description is too short to sell the click in search results",
        "too_long": "the homepage meta description is cut off in search results",
    }
    status = pv.enum(profile, "meta_description_status")
    if status not in headlines:
        return None
    impact = "That snippet is the first sentence most prospects read about you on Google."
    return Finding("meta_description_status", _TOPIC_LABELS["meta_description_status"], headlines[status], impact)


def _h1(profile: Mapping[str, object]) -> Finding | None:
    headlines = {
        "missing": "the homepage has no main heading (H1)",
        "multiple": "the homepage has several competing main headings (H1)",
    }
    status = pv.enum(profile, "h1_status")
    if status not in headlines:
        return None
    impact = "Search engines and visitors use that heading to understand what you offer in seconds."
    return Finding("h1_status", _TOPIC_LABELS["h1_status"], headlines[status], impact)


def _mobile(profile: Mapping[str, object]) -> Finding | None:
    if pv.enum(profile, "mobile_ready") != "no":
        return None
    return Finding(
        "mobile_ready",
        _TOPIC_LABELS["mobile_ready"],
        "the site is not set up for phone screens",
        "More than half of visitors browse on a phone, and Google ranks mobile-friendly sites first.",
    )


def _email_auth(profile: Mapping[str, object]) -> Finding | None:
    headlines = {
        "none": "your domain has no SPF/DMARC protection, so your emails can land in spam or be spoofed",
        "partial": "your domain's SPF/DMARC email protection is only partly enforced",
    }
    status = pv.enum(profile, "email_auth_status")
    if status not in headlines:
        return None
    impact = "Quotes and invoices you send may never reach your customers' inboxes."
    return Finding("email_auth_status", _TOPIC_LABELS["email_auth_status"], headlines[status], impact)


def _performance(profile: Mapping[str, object]) -> Finding | None:
    seconds = pv.decimal(profile, "load_time_s")
    score = pv.integer(profile, "performance_score", hi=100)
    impact = "Every extra second of loading costs visitors, especially on mobile."
    if seconds is not None and seconds >= 3.0:
        headline = f"the homepage takes {seconds:.1f} seconds to load"
    elif score is not None and score < 60:
        headline = f"the homepage scores {score}/100 on speed"
    else:
        return None
    return Finding("performance", _TOPIC_LABELS["performance"], headline, impact)


def _scores(profile: Mapping[str, object]) -> list[Finding]:
    found: list[Finding] = []
    checks = (
        ("seo_score", "search-engine basics", "Fixing the basics is the cheapest way to be found by new customers."),
        ("security_score", "security settings", "Browsers and insurers increasingly check these settings."),
        ("accessibility_score", "accessibility", "Accessible sites reach more customers and reduce legal risk."),
    )
    for key, label, impact in checks:
        score = pv.integer(profile, key, hi=100)
        if score is not None and score < 60:
            found.append(Finding(key, _TOPIC_LABELS[key], f"the site's {label} score only {score}/100", impact))
    return found


_ISSUE_IMPACT = {
    "top_issue": "Of everything we checked, it is the one we would fix first.",
    "second_issue": "It is usually a quick fix with a visible effect.",
}


def findings_from_profile(profile: Mapping[str, object]) -> list[Finding]:
    """Distinct findings in citing order (may be empty for a clean or empty profile)."""
    result: list[Finding] = []
    covered: set[str] = set()
    seen_text: set[str] = set()
    for key, topic_default in (("top_issue", "top issue"), ("second_issue", "another quick fix")):
        issue = pv.text(profile, key).rstrip(".!")
        if not issue or issue.lower() in seen_text:
            continue
        seen_text.add(issue.lower())
        topic_key = _topic_of(issue)
        if topic_key is not None:
            covered.add(topic_key)
        topic = _TOPIC_LABELS[topic_key] if topic_key is not None else topic_default
        # "Visitors see..." reads as "...: visitors see..."; an acronym ("HTTPS ...") keeps its case.
        headline = issue[0].lower() + issue[1:] if issue[1:2].islower() else issue
        result.append(Finding(key, topic, headline, _ISSUE_IMPACT[key]))
    derived = [_https(profile), _meta(profile), _h1(profile), _mobile(profile), _email_auth(profile),
               _performance(profile), *_scores(profile)]
    for finding in derived:
        if finding is None or finding.key in covered:
            continue
        covered.add(finding.key)
        result.append(finding)
    return result
