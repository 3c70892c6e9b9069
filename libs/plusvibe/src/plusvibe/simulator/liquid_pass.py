"""Pass 1: the ``{% ... %}`` Liquid tags, with the ``liquid2`` engine (not the guard's engine, on purpose).

Every ``{{ ... }}`` is a PlusVibe merge tag, never a Liquid output, so before Liquid sees the template each
one (nesting-aware) is swapped for an opaque marker; the markers that survive the Liquid branches are what
pass 2 renders. ``{#`` is hidden the same way: Shopify-style Liquid has no ``{# #}`` comments, so it is text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from liquid2 import Environment, Template

from plusvibe.simulator.merge_tags import MalformedTemplate, find_close

MAX_LIQUID_DEPTH = 32  # nested block tags; liquid2 would recurse once per level
_MARKER_CHARS = ("\ue000\ue001", "\ue002\ue003", "\ue004\ue005", "\ue006\ue007")
_TAG_NAME = re.compile(r"\{%[-+~]?\s*(\w+)")
_BLOCKS = frozenset({"if", "unless", "case", "for", "tablerow", "capture", "comment", "raw"})


class _BoundedLiquid(Environment):
    """liquid2 with limits, so a template cannot loop or grow without bound."""

    loop_iteration_limit: ClassVar[int | None] = 10_000
    output_stream_limit: ClassVar[int | None] = 1_000_000
    local_namespace_limit: ClassVar[int | None] = 1_000_000


_ENV = _BoundedLiquid()


@dataclass(frozen=True)
class Protected:
    """A template with its merge tags hidden: ``source`` for Liquid, ``pieces[n]`` behind marker ``n``.

    A piece is ``(True, inside_of_tag)`` or ``(False, literal_text)``.
    """

    source: str
    open_mark: str
    close_mark: str
    pieces: tuple[tuple[bool, str], ...]

    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.open_mark) + r"(\d+)" + re.escape(self.close_mark))


def protect(template: str) -> Protected:
    """Hide every merge tag (and every ``{#``) behind a marker that Liquid treats as text."""
    marks = next((m for m in _MARKER_CHARS if m[0] not in template and m[1] not in template), None)
    if marks is None:
        raise MalformedTemplate("template contains every marker character")
    open_mark, close_mark = marks[0], marks[1]
    pieces: list[tuple[bool, str]] = []
    out: list[str] = []
    i = 0
    while True:
        tag = template.find("{{", i)
        hash_ = template.find("{#", i)
        starts = [s for s in (tag, hash_) if s >= 0]
        if not starts:
            out.append(template[i:])
            break
        start = min(starts)
        out.append(template[i:start])
        if start == tag:
            close = find_close(template, start)
            if close < 0:
                raise MalformedTemplate("unclosed merge tag")
            pieces.append((True, template[start + 2 : close]))
            i = close + 2
        else:
            pieces.append((False, "{#"))
            i = start + 2
        out.append(f"{open_mark}{len(pieces) - 1}{close_mark}")
    return Protected("".join(out), open_mark, close_mark, tuple(pieces))


def _check_nesting(source: str) -> None:
    depth = 0
    for match in _TAG_NAME.finditer(source):
        name = match.group(1)
        if name in _BLOCKS:
            depth += 1
            if depth > MAX_LIQUID_DEPTH:
                raise MalformedTemplate("Liquid blocks nested too deep")
        elif name.startswith("end"):
            depth -= 1


@lru_cache(maxsize=1024)
def _parse(source: str) -> Template:
    return _ENV.from_string(source)


def run_liquid(protected: Protected, context: Mapping[str, object]) -> str:
    """Render the Liquid tags of a protected template; the markers pass through as text."""
    if "{%" not in protected.source:
        return protected.source
    _check_nesting(protected.source)
    try:
        return _parse(protected.source).render(dict(context))
    except Exception:  # any engine error (syntax, limits, recursion) means the campaign's template is bad
        # Never format the exception: liquid2's message builder can itself raise on odd input.
        raise MalformedTemplate("Liquid error") from None
