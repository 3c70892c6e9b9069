"""Rendering one template the way PlusVibe does (docs/TEMPLATES.md §2), and judging what came out empty.

Pass 1 runs the Liquid tags (``liquid_pass``); pass 2 renders the merge tags that pass 1 kept:
``{{key}}``, ``{{fallback|A|B}}``, ``{{random|A|B}}`` and the ``pipl_*`` date helpers. An unknown or blank
variable renders as ``""``; the renderer reports it in ``empty_keys``. A malformed or over-size template
never raises: it is reported with the key ``<malformed>`` and its text is sent as written.

``judge=True`` renders every option of every ``random`` (PlusVibe may pick any) and reports empties in all
of them; the text returned is still the option a normal render picks, so judging never changes a send.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from plusvibe.simulator.liquid_pass import Protected, protect, run_liquid
from plusvibe.simulator.merge_tags import MalformedTemplate, segments, split_top
from plusvibe.simulator.pipl_dates import helper_name, render_helper

MALFORMED = "<malformed>"
MAX_TEMPLATE_CHARS = 200_000
MAX_WORK = 1_000_000  # characters of tag text evaluated per render (Liquid loops can repeat a tag)


@dataclass
class Rendered:
    text: str
    empty_keys: list[str] = field(default_factory=list)

    @property
    def malformed(self) -> bool:
        return MALFORMED in self.empty_keys


@dataclass
class _Out:
    """A rendered piece: its text, and whether some choice of ``random`` options makes it blank."""

    text: str
    may_blank: bool


def _blank(text: str) -> bool:
    return not text.strip()


def lookup(context: Mapping[str, object], key: str) -> str:
    """The context value of ``key`` (exact name, then lowercase); enrichment ``{val: ...}`` → its val."""
    value = context[key] if key in context else context.get(key.lower())
    if isinstance(value, Mapping):
        value = value.get("val")
    return "" if value is None else str(value)


class _MergePass:
    """Pass 2 over one template. ``main`` drives the choices that are sent; ``scratch`` explores the rest."""

    def __init__(self, context: Mapping[str, object], main: random.Random, scratch: random.Random, judge: bool):
        self.context = context
        self.main = main
        self.scratch = scratch
        self.judge = judge
        self.work = 0

    def text(self, text: str, rng: random.Random, sink: list[str] | None) -> _Out:
        """Render raw text that may contain nested ``{{...}}`` tags."""
        outs = [
            self.tag(piece, rng, sink) if is_tag else _Out(piece, _blank(piece)) for is_tag, piece in segments(text)
        ]
        return _Out("".join(o.text for o in outs), all(o.may_blank for o in outs))

    def tag(self, inner: str, rng: random.Random, sink: list[str] | None) -> _Out:
        self.work += len(inner) + 1
        if self.work > MAX_WORK:
            raise MalformedTemplate("too much work")
        parts = split_top(inner)
        head = parts[0].strip().lower()
        if len(parts) > 1 and head == "fallback":
            return self._fallback(parts[1:], rng, sink)
        if len(parts) > 1 and head == "random":
            return self._random(parts[1:], rng, sink)
        helper = helper_name(parts[0])
        if helper is not None:
            return _Out(render_helper(helper, parts[0]), False)
        key = inner.strip()
        value = lookup(self.context, key)
        if _blank(value):
            if sink is not None:
                sink.append(key)
            return _Out(value, True)
        return _Out(value, False)

    def _fallback(self, options: list[str], rng: random.Random, sink: list[str] | None) -> _Out:
        # Lookups inside an option are not problems by themselves (sink=None): only the whole fallback is.
        chosen: str | None = None
        all_may_blank = True
        for option in options:
            if chosen is None:
                out = self.text(option, rng, None)
                if not _blank(out.text):
                    chosen = out.text
            else:
                out = self.text(option, self.scratch, None)  # judge only: could this one be blank too?
            all_may_blank = all_may_blank and out.may_blank
            if chosen is not None and (not self.judge or not all_may_blank):
                break
        problem = all_may_blank if self.judge else chosen is None
        if problem and sink is not None:
            sink.append("fallback|" + "|".join(options))
        return _Out(chosen or "", problem)

    def _random(self, options: list[str], rng: random.Random, sink: list[str] | None) -> _Out:
        pick = rng.choice(range(len(options)))
        out = self.text(options[pick], rng, sink)
        may_blank = out.may_blank
        if self.judge:
            for n, option in enumerate(options):
                if n != pick:
                    may_blank = self.text(option, self.scratch, sink).may_blank or may_blank
        return _Out(out.text, may_blank)

    def protected(self, source: str, protected: Protected, sink: list[str]) -> str:
        """Pass 2 over pass 1's output: each surviving marker becomes its rendered tag (or literal)."""
        out: list[str] = []
        pos = 0
        for match in protected.pattern().finditer(source):
            out.append(source[pos : match.start()])
            is_tag, piece = protected.pieces[int(match.group(1))]
            out.append(self.tag(piece, self.main, sink).text if is_tag else piece)
            pos = match.end()
        out.append(source[pos:])
        return "".join(out)


class Renderer:
    """Deterministic renderer: ``random`` choices depend on ``seed``, the caller's salt and the template."""

    def __init__(self, seed: str = "sim") -> None:
        self.seed = seed

    def render(
        self, template: str, variables: Mapping[str, object], salt: str = "", *, judge: bool = False
    ) -> Rendered:
        digest = hashlib.sha256(f"{self.seed}|{salt}|{template}".encode()).digest()
        merge = _MergePass(variables, random.Random(digest), random.Random(digest + b"judge"), judge)
        empty: list[str] = []
        try:
            if len(template) > MAX_TEMPLATE_CHARS:
                raise MalformedTemplate("template too large")
            protected = protect(template)
            kept = run_liquid(protected, variables)
            text = merge.protected(kept, protected, empty)
        except MalformedTemplate:
            return Rendered(text=template, empty_keys=[MALFORMED])
        except RecursionError:  # belt and braces: the caps should make this unreachable
            return Rendered(text=template, empty_keys=[MALFORMED])
        return Rendered(text=text, empty_keys=empty)
