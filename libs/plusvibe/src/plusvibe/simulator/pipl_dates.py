"""PlusVibe's date helpers ``pipl_time_of_day``, ``pipl_day_of_week``, ``pipl_date "<when>" "<format>"``.

The real helpers' phrase and format grammars are not documented; the simulator understands the common
shapes ("N days from now", "tomorrow", moment-style ``MMMM Do YYYY``) and otherwise falls back to a plain
date. The one promise that matters for judging a send: the result is never empty.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

HELPERS = ("pipl_time_of_day", "pipl_day_of_week", "pipl_date")

_OFFSET = re.compile(r"(\d{1,4})\s+(day|week)s?\s+(from now|later|ago|before)")
_TOKENS = re.compile(r"YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|dddd|ddd")


def helper_name(head: str) -> str | None:
    """The helper a tag's first part names (``pipl_date "x" "y"`` → ``pipl_date``), or None."""
    words = head.strip().lower().split(None, 1)
    return words[0] if words and words[0] in HELPERS else None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _format(day: datetime, fmt: str) -> str:
    table = {
        "YYYY": f"{day.year:04d}",
        "YY": f"{day.year % 100:02d}",
        "MMMM": day.strftime("%B"),
        "MMM": day.strftime("%b"),
        "MM": f"{day.month:02d}",
        "M": str(day.month),
        "Do": _ordinal(day.day),
        "DD": f"{day.day:02d}",
        "D": str(day.day),
        "dddd": day.strftime("%A"),
        "ddd": day.strftime("%a"),
    }
    return _TOKENS.sub(lambda m: table[m.group(0)], fmt)


def _when(phrase: str, now: datetime) -> datetime:
    text = phrase.lower()
    if "tomorrow" in text:
        return now + timedelta(days=1)
    if "yesterday" in text:
        return now - timedelta(days=1)
    match = _OFFSET.search(text)
    if match:
        days = int(match.group(1)) * (7 if match.group(2) == "week" else 1)
        return now + timedelta(days=-days if match.group(3) in ("ago", "before") else days)
    return now


def render_helper(name: str, head: str, now: datetime | None = None) -> str:
    """Render one date helper; ``head`` is the tag's first part with its quoted arguments."""
    moment = now or datetime.now(UTC)
    if name == "pipl_time_of_day":
        return "morning" if moment.hour < 12 else "afternoon" if moment.hour < 18 else "evening"
    if name == "pipl_day_of_week":
        return moment.strftime("%A")
    args = re.findall(r'"([^"]*)"|\'([^\']*)\'', head)
    values = [a or b for a, b in args]
    day = _when(values[0], moment) if values else moment
    fmt = values[1] if len(values) > 1 else ""
    text = _format(day, fmt) if fmt.strip() else ""
    return text if text.strip() else day.strftime("%B %d, %Y")
