"""Allowlist HTML sanitising for reply bodies and displayed messages, and header-safe subjects.

Only inert formatting survives: no script/style content, no event handlers or `style` attributes (CSS
expressions), no SVG/MathML, no forms/iframes/objects, and links/images only with http(s)/mailto URLs.
"""

from __future__ import annotations

import re
from typing import Final

import nh3

ALLOWED_TAGS: Final = frozenset({
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
})
ALLOWED_ATTRIBUTES: Final = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
# Removed together with everything inside them (the text of a script is never shown either).
DROPPED_WITH_CONTENT: Final = frozenset({
    "script", "style", "svg", "math", "iframe", "object", "embed", "template", "noscript", "xmp", "title",
    "textarea", "select", "frameset", "frame", "applet", "noembed", "plaintext",
})

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
SUBJECT_MAX = 998  # RFC 5322 line limit


def sanitise_html(html: str) -> str:
    """The allowlisted form of `html`. Idempotent: sanitising the result again changes nothing."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_relative="deny",  # relative URLs mean nothing in an email and could target our own origin
    )


def sanitise_subject(subject: str) -> str:
    """One header-safe line: CR, LF and other control characters become a single space."""
    flat = _CONTROL.sub(" ", subject)
    return _SPACES.sub(" ", flat).strip()[:SUBJECT_MAX]


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (tags dropped, entities decoded, whitespace collapsed)."""
    import html as html_lib

    stripped = nh3.clean(html, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT), attributes={})
    return " ".join(html_lib.unescape(stripped).split())


_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def is_email_address(value: str) -> bool:
    """A single bare address (no display name, no separators, no control characters)."""
    return len(value) <= 320 and bool(_ADDRESS.match(value))
