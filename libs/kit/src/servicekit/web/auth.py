"""API-key authentication for every route but health: keys are stored as SHA-256 hashes with scopes and
compared in constant time. Configure with `API_KEYS` = JSON list of {"sha256": hex, "scopes": [..], "name": ..}."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request, status


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    scopes: frozenset[str]


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def load_api_keys(raw_json: str | None = None) -> tuple[ApiKey, ...]:
    text = raw_json if raw_json is not None else os.environ.get("API_KEYS", "[]")
    items = json.loads(text or "[]")
    return tuple(
        ApiKey(name=str(i.get("name", "key")), sha256=str(i["sha256"]).lower(), scopes=frozenset(i.get("scopes", ["*"])))
        for i in items
    )


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request presents: `X-API-Key`, else an `Authorization: Bearer` token."""
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def require_scope(keys: Sequence[ApiKey], scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """FastAPI dependency: 401 without a valid key, 403 when the key lacks `scope` (or `*`)."""

    async def dependency(request: Request) -> ApiKey:
        presented = presented_key(request.headers)
        if presented is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"reason": "api_key_missing",
                                "message": "Send the API key in the X-API-Key header."})
        digest = hash_key(presented)
        match: ApiKey | None = None
        for key in keys:  # every key is compared, so timing does not reveal which one matched
            if hmac.compare_digest(digest, key.sha256):
                match = key
        if match is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"reason": "api_key_invalid",
                                "message": "The API key is not valid."})
        if "*" not in match.scopes and scope not in match.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail={"reason": "scope_missing",
                                "message": f"The API key lacks the scope {scope!r}."})
        return match

    return dependency
