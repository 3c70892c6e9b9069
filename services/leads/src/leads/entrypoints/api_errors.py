"""How the API answers a use case's refusal or a PlusVibe failure: one mapping to a 4xx/5xx with a machine-readable
`reason`, shared by every router of the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from leads.domain.refusals import Refusal
from plusvibe.errors import AuthenticationError, NotFoundError, PlusVibeError
from servicekit.web.auth import ApiKey
from servicekit.web.http import ApiError

T = TypeVar("T")
KeyCheck = Callable[[Request], Awaitable[ApiKey]]
STATUS_FOR = {"not_found": 404, "conflict": 409, "invalid": 422, "unavailable": 503, "rejected": 400,
              "rate_limited": 429, "unreachable": 502}


def api_error(refusal: Refusal) -> ApiError:
    return ApiError(STATUS_FOR[refusal.kind], refusal.reason, refusal.message, **refusal.extra)


async def answered(call: Awaitable[T]) -> T:
    """Await a use case; its refusal becomes the API error of its kind, a PlusVibe failure a 502/503."""
    try:
        return await call
    except Refusal as refusal:
        raise api_error(refusal) from None
    except AuthenticationError:
        raise ApiError(502, "plusvibe_auth_failed", "PlusVibe refused the API key; check Integrations.") from None
    except NotFoundError as exc:
        raise ApiError(404, "plusvibe_not_found", str(exc)) from None
    except PlusVibeError as exc:
        transient = bool(getattr(exc, "transient", False))
        raise ApiError(503 if transient else 502, "plusvibe_unavailable" if transient else "plusvibe_error",
                       f"PlusVibe did not complete the request: {exc}") from None
