"""Input cleaning: nothing a user typed may turn into a merge tag or a broken line.

PlusVibe renders a template once; a `{{` inside a variable's value would go out literally, so every
brace is removed from inputs (there is no legitimate use of braces in a name, a domain or a finding).
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
_TAG = re.compile(r"\{\{[^{}]*\}\}")
_NULL_LITERALS = frozenset({"null", "none", "undefined", "nan", "n/a"})


def clean_text(value: object, *, max_len: int = 200, keep_null_words: bool = False) -> str:
    """Single-line text without braces, control characters or runs of whitespace; "" if unusable.

    Literal "null"/"None" read as missing unless `keep_null_words` (for enums where "none" is a value).
    """
    if not isinstance(value, str):
        return ""
    # isprintable() is False for every "C" (control, format, surrogate, private, unassigned) character, so a
    # printable value — nearly all of them — skips the per-character scan.
    text = value if value.isprintable() else "".join(
        ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in " \t\n")
    if "{" in text or "}" in text:
        # A whole merge tag (even nested) is dropped, so "{{first_name}}" never becomes a literal "first_name".
        previous = None
        while previous != text:
            previous, text = text, _TAG.sub(" ", text)
        text = text.replace("{", "").replace("}", "")
    text = _WHITESPACE.sub(" ", text).strip()
    if not keep_null_words and text.lower() in _NULL_LITERALS:
        return ""
    return shorten(text, max_len)


def shorten(text: str, max_len: int) -> str:
    """Cut at a word boundary so that the result is at most `max_len` characters."""
    if len(text) <= max_len:
        return text
    cut = text[: max_len + 1].rsplit(" ", 1)[0] if " " in text[: max_len + 1] else text[:max_len]
    cut = cut[:max_len].rstrip(" ,;:-")
    return cut or text[:max_len]


def clean_domain(value: object) -> str:
    """A bare host name (no scheme, path or `www.`), lowercase; "" if unusable."""
    text = clean_text(value, max_len=253).lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.removeprefix("www.")
    if not text or text == "unknown" or " " in text or "." not in text:
        return ""
    return text
