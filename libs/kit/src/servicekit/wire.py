"""Shared rules for HTTP request bodies of every service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator


def has_nul(data: Any) -> bool:
    """True when any string in a decoded JSON value (keys too) contains NUL (iterative: no deep recursion)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
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
