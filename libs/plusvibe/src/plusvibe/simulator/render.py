"""Template rendering the way PlusVibe does it: ``{{key}}``, ``{{fallback|..|..}}``, ``{{random|..}}``.

Unknown or empty variables render as an empty string (no error, no literal token); the renderer
reports which placeholders came out empty so the simulator can record the message.
Liquid (``{% ... %}``) and the ``pipl_*`` date helpers are not implemented: they pass through as-is.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Rendered:
    text: str
    empty_keys: list[str] = field(default_factory=list)


def _find_close(text: str, start: int) -> int:
    """Index of the ``}}`` closing the ``{{`` that opens at ``start`` (nesting-aware), or -1."""
    depth = 0
    i = start
    while i < len(text) - 1:
        pair = text[i : i + 2]
        if pair == "{{":
            depth += 1
            i += 2
            continue
        if pair == "}}":
            depth -= 1
            if depth == 0:
                return i
            i += 2
            continue
        i += 1
    return -1


def _split_top(inner: str) -> list[str]:
    """Split on ``|`` that are not inside nested ``{{ }}``."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(inner):
        pair = inner[i : i + 2]
        if pair == "{{":
            depth += 1
            current.append(pair)
            i += 2
            continue
        if pair == "}}":
            depth -= 1
            current.append(pair)
            i += 2
            continue
        if inner[i] == "|" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(inner[i])
        i += 1
    parts.append("".join(current))
    return parts


def _value(variables: Mapping[str, object], key: str) -> str:
    value = variables.get(key)
    if value is None:
        value = variables.get(key.lower())
    if isinstance(value, Mapping):  # enrichment objects {status, val, msg}
        value = value.get("val")
    return "" if value is None else str(value)


class Renderer:
    """Deterministic renderer: ``random`` choices depend on ``seed`` and the caller's salt."""

    def __init__(self, seed: str = "sim") -> None:
        self.seed = seed

    def render(self, template: str, variables: Mapping[str, object], salt: str = "") -> Rendered:
        rng = random.Random(hashlib.sha256(f"{self.seed}|{salt}|{template}".encode()).digest())
        empty: list[str] = []
        text = self._render(template, variables, rng, empty)
        return Rendered(text=text, empty_keys=empty)

    def _render(
        self,
        template: str,
        variables: Mapping[str, object],
        rng: random.Random,
        empty: list[str],
    ) -> str:
        out: list[str] = []
        i = 0
        while i < len(template):
            start = template.find("{{", i)
            if start < 0:
                out.append(template[i:])
                break
            close = _find_close(template, start)
            if close < 0:
                out.append(template[i:])
                break
            out.append(template[i:start])
            out.append(self._token(template[start + 2 : close], variables, rng, empty))
            i = close + 2
        return "".join(out)

    def _token(
        self,
        inner: str,
        variables: Mapping[str, object],
        rng: random.Random,
        empty: list[str],
    ) -> str:
        parts = _split_top(inner)
        keyword = parts[0].strip().lower()
        if keyword == "fallback" and len(parts) > 1:
            for option in parts[1:]:
                scratch: list[str] = []
                value = self._render(option, variables, rng, scratch)
                if value.strip():
                    return value
            empty.append(f"fallback|{'|'.join(parts[1:])}")
            return ""
        if keyword == "random" and len(parts) > 1:
            choice = rng.choice(parts[1:])
            return self._render(choice, variables, rng, empty)
        key = inner.strip()
        value = _value(variables, key)
        if not value.strip():
            empty.append(key)
            return ""
        return value
