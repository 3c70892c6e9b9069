"""API-key authentication for every route but health: keys are stored as SHA-256 hashes with scopes and the
platform workspaces they reach, compared in constant time. Configure with `API_KEYS` = JSON list of
{"sha256": hex, "scopes": [..], "workspaces": [..], "name": ..} (`workspaces` absent = `["*"]`, every workspace).

A request names its workspace in the `X-Workspace` header; without it, a key that reaches `default` works there, a
key that reaches one served workspace works in that one, and any other is answered 400 `workspace_required`. A
workspace the key does not reach, or that this deployment does not serve (`WORKSPACES`), answers 404
`workspace_not_found` on every route: the same answer for both, so a key learns nothing about workspaces that are
not its own (docs/WORKSPACES.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from contracts.integrations import DEFAULT_WORKSPACE

WORKSPACE_HEADER = "x-workspace"
# What a deployment serves when it names no workspaces (`ServiceSettings.workspaces`, env `WORKSPACES`).
ONLY_DEFAULT: frozenset[str] = frozenset({DEFAULT_WORKSPACE})


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    scopes: frozenset[str]
    workspaces: frozenset[str] = frozenset({"*"})

    def reaches(self, workspace: str) -> bool:
        return "*" in self.workspaces or workspace in self.workspaces

    def default_workspace(self, served: frozenset[str]) -> str | None:
        """The workspace of a request that names none: `default` when the key reaches it and it is served, else the
        one served workspace the key reaches; None when that is ambiguous (the request must name one)."""
        if self.reaches(DEFAULT_WORKSPACE) and DEFAULT_WORKSPACE in served:
            return DEFAULT_WORKSPACE
        reached = [w for w in served if self.reaches(w)]
        named = self.workspaces - {"*"}
        if len(reached) == 1:
            return reached[0]
        return next(iter(named)) if len(named) == 1 else None


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def load_api_keys(raw_json: str | None = None) -> tuple[ApiKey, ...]:
    text = raw_json if raw_json is not None else os.environ.get("API_KEYS", "[]")
    items = json.loads(text or "[]")
    return tuple(
        ApiKey(name=str(i.get("name", "key")), sha256=str(i["sha256"]).lower(), scopes=frozenset(i.get("scopes", ["*"])),
               workspaces=_workspaces(i.get("workspaces", ["*"]), str(i.get("name", "key"))))
        for i in items
    )


def _workspaces(value: object, name: str) -> frozenset[str]:
    """A key's `workspaces`: a non-empty list of names (or `*`). Anything else stops the start-up."""
    if not isinstance(value, list) or not value or not all(isinstance(w, str) and w.strip() for w in value):
        raise ValueError(f"API key {name!r}: `workspaces` must be a non-empty list of workspace names (or \"*\")")
    return frozenset(w.strip() for w in value)


def request_workspace(request: Request, key: ApiKey, served: frozenset[str] = ONLY_DEFAULT) -> str:
    """The workspace a request works in (the `X-Workspace` header, else the key's default); 404 when the key does
    not reach it or the deployment does not serve it."""
    asked = request.headers.get(WORKSPACE_HEADER)
    workspace = asked.strip() if asked is not None else key.default_workspace(served)
    if workspace is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail={"reason": "workspace_required",
                            "message": "This API key reaches several workspaces: name one in the X-Workspace header."})
    if not key.reaches(workspace) or workspace not in served:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"reason": "workspace_not_found",
                            "message": "No such workspace for this API key."})
    return workspace


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request presents: `X-API-Key`, else an `Authorization: Bearer` token."""
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def authenticate(request: Request, keys: Sequence[ApiKey], scope: str) -> ApiKey:
    """The request's key: 401 without a valid key, 403 when it lacks `scope` (or `*`)."""
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


def require_scope(keys: Sequence[ApiKey], scope: str, served: frozenset[str] = ONLY_DEFAULT,
                  ) -> Callable[[Request], Awaitable[ApiKey]]:
    """FastAPI dependency: 401 without a valid key, 403 when the key lacks `scope` (or `*`), 404 when it does not
    reach the request's workspace or the deployment does not serve it (`request_workspace`; the workspace is kept
    in `request.state.workspace`, read it with `workspace_of`)."""

    async def dependency(request: Request) -> ApiKey:
        key = authenticate(request, keys, scope)
        request.state.workspace = request_workspace(request, key, served)
        return key

    return dependency


def require_key(keys: Sequence[ApiKey], scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """FastAPI dependency for the few routes that are about the key rather than one workspace (which workspaces
    it reaches): 401/403 as `require_scope`, and no workspace is resolved."""

    async def dependency(request: Request) -> ApiKey:
        return authenticate(request, keys, scope)

    return dependency


def reachable_workspaces(key: ApiKey, served: frozenset[str]) -> list[str]:
    """The served workspaces the key reaches, `default` first, then by name."""
    return sorted((w for w in served if key.reaches(w)), key=lambda w: (w != DEFAULT_WORKSPACE, w))


def workspace_of(request: Request) -> str:
    """The workspace of a request that passed `require_scope`."""
    workspace: str = request.state.workspace
    return workspace
