"""PlusVibe's merge tags, parsed into a small tree (docs/TEMPLATES.md §2, pass 2).

A tag runs from `{{` to its matching `}}` (tags nest); its inside is split on top-level `|`; the first part,
trimmed and lowercased, is the keyword (`fallback`, `random`) or a date helper (`pipl_*`); anything else is a
plain lookup of the whole trimmed inside. Written by hand because no library parses PlusVibe's own syntax; it
is a few dozen lines and bounded (size and nesting caps) so a hostile template cannot hang a push.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TEMPLATE_CHARS = 200_000
MAX_DEPTH = 24
DATE_HELPERS = frozenset({"pipl_time_of_day", "pipl_day_of_week", "pipl_date"})


class MalformedTemplate(ValueError):
    """The template cannot be rendered as PlusVibe would: a campaign problem, not a lead's."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Lookup:
    key: str
    source: str  # the tag as written, for messages and the preview


@dataclass(frozen=True)
class Helper:
    name: str
    source: str


@dataclass(frozen=True)
class Choice:
    """`{{fallback|…}}` (first non-blank option) or `{{random|…}}` (any option)."""

    kind: str  # "fallback" | "random"
    options: tuple[Sequence, ...]
    source: str


Node = Text | Lookup | Helper | Choice
Sequence = tuple[Node, ...]


def find_close(text: str, start: int) -> int:
    """Index of the `}}` that closes the `{{` at `start` (nesting-aware), or -1 when it is never closed."""
    depth = 0
    i = start
    end = len(text) - 1
    while i < end:
        pair = text[i : i + 2]
        if pair == "{{":
            depth += 1
            i += 2
        elif pair == "}}":
            depth -= 1
            if depth == 0:
                return i
            i += 2
        else:
            i += 1
    return -1


def _split_top(inner: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(inner):
        pair = inner[i : i + 2]
        if pair == "{{":
            depth += 1
            i += 2
        elif pair == "}}":
            depth -= 1
            i += 2
        else:
            if inner[i] == "|" and depth == 0:
                parts.append(inner[start:i])
                start = i + 1
            i += 1
    parts.append(inner[start:])
    return parts


def _tag(inner: str, source: str, depth: int) -> Node:
    parts = _split_top(inner)
    keyword = parts[0].strip().lower()
    if keyword in ("fallback", "random") and len(parts) > 1:
        return Choice(keyword, tuple(_parse(part, depth + 1) for part in parts[1:]), source)
    words = inner.split()
    if words and words[0].lower() in DATE_HELPERS:
        return Helper(words[0].lower(), source)
    return Lookup(inner.strip(), source)


def _parse(text: str, depth: int) -> Sequence:
    if depth > MAX_DEPTH:
        raise MalformedTemplate(f"merge tags nested deeper than {MAX_DEPTH} levels")
    nodes: list[Node] = []
    i = 0
    while i < len(text):
        start = text.find("{{", i)
        if start < 0:
            nodes.append(Text(text[i:]))
            break
        if start > i:
            nodes.append(Text(text[i:start]))
        close = find_close(text, start)
        if close < 0:
            raise MalformedTemplate(f"unclosed '{{{{' at character {start + 1}")
        nodes.append(_tag(text[start + 2 : close], text[start : close + 2], depth))
        i = close + 2
    return tuple(nodes)


def parse(text: str) -> Sequence:
    """The template's merge tags as a tree; MalformedTemplate when it cannot be rendered."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise MalformedTemplate(f"template longer than {MAX_TEMPLATE_CHARS} characters")
    return _parse(text, 0)


def lookup_keys(nodes: Sequence) -> set[str]:
    """Every key a lookup anywhere in the tree names (inside fallbacks and spintax too)."""
    keys: set[str] = set()
    for node in nodes:
        if isinstance(node, Lookup):
            keys.add(node.key)
        elif isinstance(node, Choice):
            for option in node.options:
                keys |= lookup_keys(option)
    return keys
