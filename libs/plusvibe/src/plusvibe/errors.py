"""Typed errors raised by the PlusVibe client. Messages never contain the API key."""

from __future__ import annotations


class PlusVibeError(Exception):
    """Base for every client error. `transient` tells generic retry code (e.g. the service kit's consumers)
    whether trying again later can help."""

    transient: bool = False

    def __init__(self, message: str, *, status_code: int | None = None, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.path = path

    def __str__(self) -> str:
        where = f" [{self.path}]" if self.path else ""
        code = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.message}{code}{where}"


class AuthenticationError(PlusVibeError):
    """401/403: bad key, wrong workspace or blocked client. Needs an operator, never retried."""


class NotFoundError(PlusVibeError):
    """404."""


class PermanentError(PlusVibeError):
    """Other 4xx, or a ``status: "error"`` body. Retrying cannot help."""


class TransientError(PlusVibeError):
    """5xx, timeouts, dropped connections, deadline exceeded. Safe to try again later."""

    transient = True


class RateLimitedError(TransientError):
    """429. ``retry_after`` is the server's hint in seconds (None when absent)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        status_code: int | None = 429,
        path: str = "",
    ) -> None:
        super().__init__(message, status_code=status_code, path=path)
        self.retry_after = retry_after


class AmbiguousSendError(TransientError):
    """A non-idempotent request may or may not have been applied (connection lost after sending).

    The caller must reconcile (e.g. read the Unibox thread) before sending again: a blind retry is not safe.
    """

    transient = False


class CircuitOpenError(TransientError):
    """The per-account breaker is open after repeated transient failures; no request was sent."""

    def __init__(self, message: str, *, retry_in: float, path: str = "") -> None:
        super().__init__(message, path=path)
        self.retry_in = retry_in


class DeadlineExceededError(TransientError):
    """The total deadline of a logical call ran out (slow server, trickling body, long backoff)."""
