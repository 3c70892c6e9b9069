"""PlusVibe API client (async, rate-limited, retrying) and a local simulator."""

from plusvibe.client import PlusVibeClient
from plusvibe.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CircuitOpenError,
    DeadlineExceededError,
    NotFoundError,
    PermanentError,
    PlusVibeError,
    RateLimitedError,
    TransientError,
)
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings

__all__ = [
    "AmbiguousSendError",
    "AuthenticationError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "NotFoundError",
    "PermanentError",
    "PlusVibeClient",
    "PlusVibeError",
    "PlusVibePort",
    "PlusVibeSettings",
    "RateLimitedError",
    "TransientError",
]
