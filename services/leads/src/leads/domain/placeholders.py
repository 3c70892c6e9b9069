"""Which merge tags a campaign's templates use (PlusVibe syntax, reference/plusvibe-api.md §5).

Handled forms: `{{key}}`, `{{ key }}`, `{{key|default}}`, `{{fallback|{{key}}|default}}` (keyword
case-insensitive) and `{{random|A|B}}` spintax, whose options may themselves contain tags. Keys are
returned lowercased: the guard then over-requires rather than misses a key written as `{{Audit_Grade}}`.
Liquid `{% ... %}` blocks and helpers with arguments (`{{pipl_date "..."}}`) name no merge variable
we populate and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_INNERMOST_TAG = re.compile(r"\{\{([^{}]*)\}\}")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset({"fallback", "random"})
# Replaces an already-read inner tag so the outer tag can be read next; contains no brace or pipe.
_READ = "\x00"


def extract_placeholders(template: str | None) -> frozenset[str]:
    """The merge-variable keys one template (subject or HTML body) refers to."""
    if not template:
        return frozenset()
    keys: set[str] = set()
    text = template
    while True:
        match = _INNERMOST_TAG.search(text)
        if match is None:
            return frozenset(keys)
        head = match.group(1).split("|", 1)[0].strip()
        if head.lower() not in _KEYWORDS and _KEY.match(head):
            keys.add(head.lower())
        text = text[: match.start()] + _READ + text[match.end() :]


def placeholders_in(templates: Iterable[str | None]) -> frozenset[str]:
    """Union over every subject and body of every step and variation of a campaign."""
    keys: set[str] = set()
    for template in templates:
        keys |= extract_placeholders(template)
    return frozenset(keys)
