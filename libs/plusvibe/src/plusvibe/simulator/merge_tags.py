"""Scanning PlusVibe merge tags: ``{{`` to its matching ``}}`` (tags nest), ``|`` split at the top level.

Pure text functions with hard caps, shared by pass 1 (which hides every tag from Liquid) and pass 2
(which renders the tags). Nothing here evaluates a tag.
"""

from __future__ import annotations

import re

MAX_TAG_DEPTH = 16  # deeper nesting than any real template; beyond it the template is malformed
# Scanned left to right, "{{" before "}}": the same pairing as a character-by-character scan.
_BRACES = re.compile(r"\{\{|\}\}")
_BRACES_OR_PIPE = re.compile(r"\{\{|\}\}|\|")


class MalformedTemplate(Exception):
    """The template cannot be rendered as PlusVibe would (unclosed tag, bad Liquid, over a cap)."""


def find_close(text: str, start: int, max_depth: int = MAX_TAG_DEPTH) -> int:
    """Index of the ``}}`` closing the ``{{`` at ``start`` (nesting-aware), or -1 when unclosed.

    Raises ``MalformedTemplate`` when the nesting goes deeper than ``max_depth``.
    """
    depth = 0
    for match in _BRACES.finditer(text, start):
        if match.group(0) == "{{":
            depth += 1
            if depth > max_depth:
                raise MalformedTemplate("merge tags nested too deep")
        else:
            depth -= 1
            if depth == 0:
                return match.start()
    return -1


def split_top(inner: str) -> list[str]:
    """Split a tag's inside on the ``|`` that are not inside a nested ``{{ }}``."""
    parts: list[str] = []
    depth = 0
    start = 0
    for match in _BRACES_OR_PIPE.finditer(inner):
        token = match.group(0)
        if token == "{{":
            depth += 1
        elif token == "}}":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(inner[start : match.start()])
            start = match.end()
    parts.append(inner[start:])
    return parts


def segments(text: str) -> list[tuple[bool, str]]:
    """``text`` as ``(is_tag, piece)`` pairs: literal text, or a tag's inside (without the braces).

    Raises ``MalformedTemplate`` on an unclosed ``{{``.
    """
    out: list[tuple[bool, str]] = []
    i = 0
    while i < len(text):
        start = text.find("{{", i)
        if start < 0:
            out.append((False, text[i:]))
            break
        close = find_close(text, start)
        if close < 0:
            raise MalformedTemplate("unclosed merge tag")
        if start > i:
            out.append((False, text[i:start]))
        out.append((True, text[start + 2 : close]))
        i = close + 2
    return out
