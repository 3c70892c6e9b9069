"""Plain text to the HTML that PlusVibe templates expect."""

from __future__ import annotations

from html import escape


def to_html(text: str) -> str:
    """Escape `text` and turn its line breaks into `<br>`; braces never survive (inputs are cleaned)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return escape(normalised, quote=True).replace("\n", "<br>")
