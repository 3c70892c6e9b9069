"""Pass 1 of PlusVibe's rendering: Liquid `{% %}` tags, evaluated with python-liquid (docs/TEMPLATES.md §2).

Every `{{ }}` in a PlusVibe template is a merge tag, not a Liquid output, so before Liquid sees the template each
top-level merge tag is replaced by an opaque marker; Liquid keeps or drops markers with their branch; the kept
markers are turned back into the parsed merge tags. Templates are compiled once (cached by text); resource
limits keep a hostile template bounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError

from leads.domain.send_dry_run.merge_tags import (
    MalformedTemplate,
    Node,
    Sequence,
    Text,
    find_close,
    lookup_keys,
    parse,
)

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a template, never special to Liquid
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


class _BoundedEnvironment(Environment):
    loop_iteration_limit = 10_000
    output_stream_limit = 1_000_000
    context_depth_limit = 30
    local_namespace_limit = 100_000


_ENV = _BoundedEnvironment()


class CompiledTemplate:
    """One subject or body, ready to render against any context."""

    def __init__(self, source: str) -> None:
        if _OPEN in source or _CLOSE in source:
            source = source.replace(_OPEN, "").replace(_CLOSE, "")
        self.source = source
        self.uses_liquid = "{%" in source
        if not self.uses_liquid:
            self._nodes = parse(source)
            self.names = frozenset(lookup_keys(self._nodes))
            return
        protected, tags = _protect(source)
        self._tags = [_single(tag) for tag in tags]
        try:
            self._liquid: BoundTemplate = _ENV.from_string(protected)
            liquid_names = {str(name) for name in self._liquid.analyze().globals}
        except LiquidError as exc:
            raise MalformedTemplate(f"Liquid does not parse: {exc.message or exc}") from None
        # Every variable the template names: merge-tag lookups and the bare names of its Liquid tags.
        self.names = frozenset(lookup_keys(tuple(self._tags)) | liquid_names)

    def nodes(self, context: Mapping[str, object]) -> Sequence:
        """The merge-tag tree of what survives pass 1 for this context."""
        if not self.uses_liquid:
            return self._nodes
        try:
            text = self._liquid.render(**context)
        except LiquidError as exc:
            raise MalformedTemplate(f"Liquid fails to render: {exc.message or exc}") from None
        nodes: list[Node] = []
        last = 0
        for match in _MARKER.finditer(text):
            if match.start() > last:
                nodes.append(Text(text[last : match.start()]))
            nodes.append(self._tags[int(match.group(1))])
            last = match.end()
        if last < len(text):
            nodes.append(Text(text[last:]))
        return tuple(nodes)


def _protect(source: str) -> tuple[str, list[str]]:
    """The template with each top-level merge tag replaced by a numbered marker, and the tags."""
    out: list[str] = []
    tags: list[str] = []
    i = 0
    while True:
        start = source.find("{{", i)
        if start < 0:
            out.append(source[i:])
            return "".join(out), tags
        close = find_close(source, start)
        if close < 0:
            raise MalformedTemplate(f"unclosed '{{{{' at character {start + 1}")
        out.append(source[i:start])
        out.append(f"{_OPEN}{len(tags)}{_CLOSE}")
        tags.append(source[start : close + 2])
        i = close + 2


def _single(tag: str) -> Node:
    (node,) = parse(tag)
    return node


@lru_cache(maxsize=4096)
def compile_template(source: str) -> CompiledTemplate:
    """Compiled once per distinct text: a bulk push renders the same templates for every lead."""
    return CompiledTemplate(source)
