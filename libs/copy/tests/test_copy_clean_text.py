"""`clean_text`'s fast path (printable values skip the per-character scan) gives exactly what the full scan gives."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from copywriter.sanitise import clean_text, shorten

_TAG = re.compile(r"\{\{[^{}]*\}\}")


def reference_clean_text(value: object, *, max_len: int = 200, keep_null_words: bool = False) -> str:
    """The scan every value went through before the fast path."""
    if not isinstance(value, str):
        return ""
    text = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in " \t\n")
    previous = None
    while previous != text:
        previous, text = text, _TAG.sub(" ", text)
    text = text.replace("{", "").replace("}", "")
    text = re.sub(r"\s+", " ", text).strip()
    if not keep_null_words and text.lower() in {"null", "none", "undefined", "nan", "n/a"}:
        return ""
    return shorten(text, max_len)


AWKWARD = st.sampled_from(["{", "}", "{{", "}}", "{{first_name}}", "\x00", "\r", "\n", "\t", "\u200b", "\u2028",
                           "\ufeff", "\x7f", "\x85", "\u00a0", " ", "null", "None", "é", "\U0001f600", "\ue000"])
VALUES = st.lists(st.one_of(st.text(max_size=8), AWKWARD), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(value=VALUES, max_len=st.integers(min_value=1, max_value=60), keep=st.booleans())
def test_fast_path_matches_the_full_scan(value: str, max_len: int, keep: bool) -> None:
    assert clean_text(value, max_len=max_len, keep_null_words=keep) == reference_clean_text(
        value, max_len=max_len, keep_null_words=keep)


def test_control_and_format_characters_are_still_removed() -> None:
    assert clean_text("Acme\u200b Bakery\x00\r\n{{x}} Ltd") == "Acme Bakery Ltd"
    assert clean_text("{{first_name}}") == ""
    assert clean_text("plain printable text") == "plain printable text"
