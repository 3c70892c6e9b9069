"""Refusals of a use case, with the machine-readable reason the API returns (mapped to HTTP by the entrypoint)."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    def __init__(self, kind: str, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.kind = kind  # not_found | conflict | invalid | unavailable
        self.reason = reason
        self.message = message
        self.extra = extra


def not_found(what: str = "lead") -> Refusal:
    return Refusal("not_found", f"{what}_not_found", f"No {what} with that id.")
