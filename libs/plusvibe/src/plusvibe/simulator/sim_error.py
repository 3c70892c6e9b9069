"""The simulator's API error: an HTTP status and a message, turned into an error body by the app."""

from __future__ import annotations


class SimError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
