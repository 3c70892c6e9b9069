"""Integrations: an operator connects a PlusVibe API key and workspace, tests the connection, or disconnects.

Leads owns credentials (docs/INTEGRATIONS.md). A key is checked against PlusVibe (`/authenticate`) before
anything is stored; it is stored only sealed under the deployment's KEK, shown only masked, and reaches the other
services that call PlusVibe as a sealed `PlusVibeIntegrationChanged` (same transaction, through the outbox).
A refused key, an unreachable PlusVibe or a workspace the key cannot reach stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx
from pydantic import SecretStr

from contracts.integrations import PlusVibeIntegrationChanged
from leads.adapters.orm import PlusVibeIntegrationRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal
from plusvibe.client import PlusVibeClient
from plusvibe.credentials import Credentials, KeyRing, SealError, fingerprint, mask
from plusvibe.errors import AuthenticationError, PlusVibeError, RateLimitedError, TransientError
from plusvibe.models import Workspace
from plusvibe.settings import PlusVibeSettings

UowFactory = Callable[[], LeadsUnitOfWork]
# Lists the PlusVibe workspaces a candidate key reaches (raises the client's errors).
Probe = Callable[[SecretStr], Awaitable[list[Workspace]]]


@dataclass(frozen=True)
class IntegrationView:
    """What an operator may see of a workspace's integration: never the key, only its last four characters."""

    source: Literal["integration", "environment", "none"]
    connected: bool
    plusvibe_workspace_id: str = ""
    plusvibe_workspace_name: str = ""
    key_masked: str = ""
    version: int = 0
    connected_at: datetime | None = None
    verified_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


def probe_with(base: PlusVibeSettings) -> Probe:
    """A probe through a client of its own for the candidate key (same base URL, limits and timeouts)."""

    async def probe(api_key: SecretStr) -> list[Workspace]:
        # An HTTP client of its own, closed here; not the PlusVibe client's aclose(), which also closes the
        # process's shared rate-limit stores under every other PlusVibe call in flight.
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
            client = PlusVibeClient(base.model_copy(update={"api_key": api_key, "workspace_id": ""}), http=http)
            return await client.authenticate()

    return probe


def error_label(exc: PlusVibeError) -> str:
    """The last error as the Integrations page shows it."""
    if isinstance(exc, AuthenticationError):
        return "key rejected"
    if isinstance(exc, RateLimitedError):
        return "rate limited"
    if isinstance(exc, TransientError):
        return "unreachable"
    return f"PlusVibe error: {exc.message}"


def refusal_for(exc: PlusVibeError) -> Refusal:
    if isinstance(exc, AuthenticationError):
        return Refusal("rejected", "plusvibe_key_rejected",
                       "PlusVibe rejected the API key (HTTP 401/403): check that it is the account's current key.")
    if isinstance(exc, RateLimitedError):
        return Refusal("rate_limited", "plusvibe_rate_limited",
                       "PlusVibe is rate limiting this account; try again in a few seconds.")
    if isinstance(exc, TransientError):
        return Refusal("unreachable", "plusvibe_unreachable",
                       "PlusVibe could not be reached (network error, timeout or 5xx); nothing was stored.")
    return Refusal("unreachable", "plusvibe_error", f"PlusVibe refused the check: {exc.message}")


def _keyring(keyring: KeyRing | None) -> KeyRing:
    if keyring is None:
        raise Refusal("unavailable", "integrations_unavailable",
                      "No key-encryption key is configured (PLUSVIBE_KEK), so no API key can be stored.")
    return keyring


async def reachable_workspaces(probe: Probe, api_key: SecretStr) -> list[Workspace]:
    try:
        return await probe(api_key)
    except PlusVibeError as exc:
        raise refusal_for(exc) from None


async def connect(uows: UowFactory, *, keyring: KeyRing | None, probe: Probe, api_key: SecretStr,
                  plusvibe_workspace_id: str, workspace: str, now: datetime) -> IntegrationView:
    ring = _keyring(keyring)
    workspaces = await reachable_workspaces(probe, api_key)
    chosen = next((w for w in workspaces if w.id == plusvibe_workspace_id), None)
    if chosen is None:
        raise Refusal("invalid", "plusvibe_workspace_not_on_key",
                      "This API key cannot reach that PlusVibe workspace; pick one of the key's workspaces.",
                      workspaces=[{"id": w.id, "name": w.name} for w in workspaces])
    key = api_key.get_secret_value()
    async with uows() as uow:
        row = await _locked(uow, workspace)
        if not (row.connected and row.key_fingerprint == fingerprint(key) and row.plusvibe_workspace_id == chosen.id
                and _opens(ring, row.sealed_api_key, workspace)):
            # A new key or workspace, or a stored token the KEK no longer opens: sealed, counted and announced.
            # (The same ones again only re-verify.)
            row.connected, row.plusvibe_workspace_id = True, chosen.id
            row.sealed_api_key, row.key_fingerprint, row.key_masked = (ring.seal(key, context=workspace),
                                                                       fingerprint(key), mask(key))
            row.version, row.connected_at = row.version + 1, now
            _announce(uow, row, now)
        row.plusvibe_workspace_name = _display_name(chosen.name)
        row.verified_at, row.last_error, row.last_error_at, row.updated_at = now, None, None, now
        return await _committed(uow, row)


async def disconnect(uows: UowFactory, *, workspace: str, now: datetime) -> IntegrationView:
    """Disconnected means disconnected: no service falls back to an environment key afterwards."""
    async with uows() as uow:
        row = await _locked(uow, workspace)
        if not row.connected and row.version > 0:
            return _view(row)  # already disconnected: nothing changes, nothing is announced
        row.connected, row.plusvibe_workspace_id, row.plusvibe_workspace_name = False, "", ""
        row.sealed_api_key, row.key_fingerprint, row.key_masked = "", "", ""
        row.verified_at, row.last_error, row.last_error_at, row.updated_at = None, None, None, now
        row.version += 1
        _announce(uow, row, now)
        return await _committed(uow, row)


async def test_connection(uows: UowFactory, *, keyring: KeyRing | None, probe: Probe, workspace: str,
                          env: Credentials | None, now: datetime) -> IntegrationView:
    """Checks the connected key against PlusVibe now and records the outcome (verified at, or the last error).
    A failed check is an answer, not a refusal: the view carries it."""
    async with uows() as uow:
        row = await uow.leads.integration(workspace)
        stored = None if row is None or (row.version == 0 and not row.connected) else _view(row)
        sealed, version = (row.sealed_api_key, row.version) if row is not None else ("", 0)
    if stored is None:
        if env is None:
            raise Refusal("conflict", "plusvibe_not_connected", "Nothing to test: connect a PlusVibe API key first.")
        return await _test_environment(probe, env, now)
    if not stored.connected:
        raise Refusal("conflict", "plusvibe_not_connected", "Nothing to test: connect a PlusVibe API key first.")
    try:
        key = _keyring(keyring).open(sealed, context=workspace)
    except SealError:
        raise Refusal("unavailable", "integration_key_unreadable",
                      "The stored key does not open with this deployment's key-encryption key; connect it again.") \
            from None
    error = await _check(probe, key, stored.plusvibe_workspace_id)
    async with uows() as uow:
        locked = await _locked(uow, workspace)
        if locked.connected and locked.version == version:  # the connection tested is still the current one
            if error is None:
                locked.verified_at, locked.last_error, locked.last_error_at = now, None, None
            else:
                locked.last_error, locked.last_error_at = error, now
            locked.updated_at = now
        return await _committed(uow, locked)


async def status(uows: UowFactory, *, workspace: str, env: Credentials | None) -> IntegrationView:
    async with uows() as uow:
        row = await uow.leads.integration(workspace)
        stored = None if row is None or (row.version == 0 and not row.connected) else _view(row)
    if stored is None:
        if env is None:
            return IntegrationView(source="none", connected=False)
        return IntegrationView(source="environment", connected=True, plusvibe_workspace_id=env.workspace_id,
                               key_masked=mask(env.api_key.get_secret_value()))
    return stored


async def reseal(uows: UowFactory, *, keyring: KeyRing | None, workspace: str, now: datetime) -> bool:
    """KEK rotation: the stored key sealed again under the first KEK and announced (a new version), so every
    service's copy is re-sealed too. True when there was a connected key to reseal."""
    ring = _keyring(keyring)
    async with uows() as uow:
        row = await _locked(uow, workspace)
        if not row.connected:
            return False
        try:
            row.sealed_api_key = ring.reseal(row.sealed_api_key)
        except SealError:
            raise Refusal("unavailable", "integration_key_unreadable",
                          "The stored key does not open with any configured KEK; keep the old KEK in PLUSVIBE_KEK "
                          "until every stored key is resealed.") from None
        row.version, row.updated_at = row.version + 1, now
        _announce(uow, row, now)
        await uow.commit()
        return True


async def _check(probe: Probe, key: SecretStr, plusvibe_workspace_id: str) -> str | None:
    try:
        workspaces = await probe(key)
    except PlusVibeError as exc:
        return error_label(exc)
    if not any(w.id == plusvibe_workspace_id for w in workspaces):
        return "workspace no longer on this key"
    return None


async def _test_environment(probe: Probe, env: Credentials, now: datetime) -> IntegrationView:
    error = await _check(probe, env.api_key, env.workspace_id)
    return IntegrationView(source="environment", connected=True, plusvibe_workspace_id=env.workspace_id,
                           key_masked=mask(env.api_key.get_secret_value()),
                           verified_at=now if error is None else None, last_error=error,
                           last_error_at=now if error is not None else None)


def _opens(ring: KeyRing, sealed: str, workspace: str) -> bool:
    try:
        ring.open(sealed, context=workspace)
    except SealError:
        return False
    return True


def _display_name(name: str | None) -> str:
    """PlusVibe's name for the workspace, as stored and shown: printable text, at most 300 characters."""
    return "".join(c for c in (name or "") if c.isprintable())[:300]


async def _locked(uow: LeadsUnitOfWork, workspace: str) -> PlusVibeIntegrationRow:
    row = await uow.leads.integration(workspace, for_update=True)
    assert row is not None  # created by the locking read
    return row


def _announce(uow: LeadsUnitOfWork, row: PlusVibeIntegrationRow, now: datetime) -> None:
    uow.publish(PlusVibeIntegrationChanged(
        workspace=row.workspace, connected=row.connected, plusvibe_workspace_id=row.plusvibe_workspace_id,
        sealed_api_key=row.sealed_api_key, key_fingerprint=row.key_fingerprint, version=row.version,
        changed_at=now), workspace_id=row.workspace, key=row.workspace)


async def _committed(uow: LeadsUnitOfWork, row: PlusVibeIntegrationRow) -> IntegrationView:
    view = _view(row)  # read before the commit expires the row
    await uow.commit()
    return view


def _view(row: PlusVibeIntegrationRow) -> IntegrationView:
    return IntegrationView(
        source="integration", connected=row.connected, plusvibe_workspace_id=row.plusvibe_workspace_id,
        plusvibe_workspace_name=row.plusvibe_workspace_name, key_masked=row.key_masked, version=row.version,
        connected_at=row.connected_at, verified_at=row.verified_at, last_error=row.last_error,
        last_error_at=row.last_error_at)
