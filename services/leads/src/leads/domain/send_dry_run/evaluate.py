"""Pass 2 of PlusVibe's rendering: merge tags against one rendering context (docs/TEMPLATES.md §2).

Besides the text PlusVibe would send (spintax shown with its first option), the evaluation answers "can this
render blank?" over every spintax choice, compositionally: a sequence can be blank only if each part can, a
`random` if any option can, a `fallback` only if every option can. Each place that can render empty is
reported once as a `Hole`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from leads.domain.send_dry_run.merge_tags import Choice, Helper, Lookup, Sequence, Text

# What PlusVibe's date helpers print: real values are dates, never empty; the preview shows a stand-in.
_HELPER_TEXT = {"pipl_time_of_day": "morning", "pipl_day_of_week": "Tuesday", "pipl_date": "June 3rd 2026"}


@dataclass(frozen=True)
class Hole:
    """A placeholder that renders empty (kind "empty") or with a value unfit for its key (kind "invalid")."""

    kind: str
    source: str  # the tag as written: `{{job_title}}`, `{{fallback|{{first_name}}|}}`
    key: str  # the lookup it is about (for a fallback: its first lookup; "" when it has none)


@dataclass
class Rendered:
    segments: list[tuple[str, Hole | None]] = field(default_factory=list)
    can_blank: bool = True
    holes: list[Hole] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.segments)


def lookup(context: Mapping[str, object], key: str) -> str:
    """A context value as PlusVibe renders it: exact key, then lowercase; `{val: ...}` objects give `val`."""
    value = context.get(key)
    if value is None:
        value = context.get(key.lower())
    if isinstance(value, Mapping):
        value = value.get("val")
    return "" if value is None else str(value)


def _first_lookup(options: tuple[Sequence, ...]) -> str:
    for option in options:
        for node in option:
            if isinstance(node, Lookup):
                return node.key
            if isinstance(node, Choice):
                inner = _first_lookup(node.options)
                if inner:
                    return inner
    return ""


class Evaluator:
    """Renders merge-tag trees against one context; `is_valid(key, value)` adds type checks of known keys."""

    def __init__(self, context: Mapping[str, object], is_valid: Callable[[str, str], bool]) -> None:
        self.context = context
        self.is_valid = is_valid

    def render(self, nodes: Sequence, *, quiet: bool = False) -> Rendered:
        """`quiet`: inside a fallback option, where an empty lookup is not a problem by itself."""
        out = Rendered()
        for node in nodes:
            part = self._node(node, quiet)
            out.segments.extend(part.segments)
            out.holes.extend(part.holes)
            out.can_blank = out.can_blank and part.can_blank
        return out

    def _node(self, node: Text | Lookup | Helper | Choice, quiet: bool) -> Rendered:
        if isinstance(node, Text):
            return Rendered([(node.text, None)], not node.text.strip())
        if isinstance(node, Helper):
            return Rendered([(_HELPER_TEXT.get(node.name, "today"), None)], False)
        if isinstance(node, Lookup):
            return self._lookup(node, quiet)
        options = [self.render(option, quiet=True if node.kind == "fallback" else quiet) for option in node.options]
        if node.kind == "random":
            holes = [hole for option in options for hole in option.holes]
            return Rendered(options[0].segments, any(o.can_blank for o in options), holes)
        chosen = next((o for o in options if o.text.strip()), None)
        if not all(o.can_blank for o in options):
            return Rendered(chosen.segments if chosen else options[-1].segments, False)
        hole = Hole("empty", node.source, _first_lookup(node.options))
        if chosen is not None:  # blank only for some spintax choice inside: show the likely text, report it
            return Rendered(chosen.segments, True, [] if quiet else [hole])
        return Rendered([("", None if quiet else hole)], True, [] if quiet else [hole])

    def _lookup(self, node: Lookup, quiet: bool) -> Rendered:
        value = lookup(self.context, node.key)
        if not value.strip():
            hole = Hole("empty", node.source, node.key)
            return Rendered([(value, None if quiet else hole)], True, [] if quiet else [hole])
        if not quiet and not self.is_valid(node.key, value):
            hole = Hole("invalid", node.source, node.key)
            return Rendered([(value, hole)], False, [hole])
        return Rendered([(value, None)], False)
