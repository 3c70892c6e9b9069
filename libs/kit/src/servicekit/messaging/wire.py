"""Shared rules for HTTP request bodies of every service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, model_validator


def has_nul(data: Any) -> bool:
    """True when any string in a decoded JSON value (keys too) contains NUL."""
    return _any_string(data, lambda text: "\x00" in text)


def is_storable_text(data: Any) -> bool:
    """True when every string of a decoded JSON value (keys too) is text PostgreSQL can store: no NUL and no
    unpaired surrogate (which JSON's \\uD800 escapes can produce)."""
    return not _any_string(data, lambda text: "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text))


def _any_string(data: Any, test: Callable[[str], bool]) -> bool:
    # Iterative: a payload nested just under the decoder's limit must not overflow the stack here.
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if test(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
    return False


class NulFree(BaseModel):
    """Mixin for request bodies. PostgreSQL text cannot hold NUL: refuse it at the edge (422), not in the
    database (500)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data
