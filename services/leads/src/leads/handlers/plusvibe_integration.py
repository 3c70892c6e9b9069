"""Integrations: an operator connects a PlusVibe API key and workspace, tests the connection, or disconnects.

Leads owns credentials (docs/INTEGRATIONS.md). A key is checked against PlusVibe (`/authenticate`) before
anything is stored; it is stored only sealed under the deployment's KEK, shown only masked, and reaches the other
services that call PlusVibe as a sealed `PlusVibeIntegrationChanged` (same transaction, through the outbox).
A refused key, an unreachable PlusVibe or a workspace the key cannot reach stores nothing.

Connecting also registers the workspace's PlusVibe webhook (`/hook/add`, pointing at the deployment's public
webhook URL with a per-workspace secret, announced sealed so unibox can verify deliveries); a key change replaces it,
a disconnect removes it, a test repairs it. Every PlusVibe call of a change runs while the workspace's row is locked,
so concurrent connects apply one after the other and the later one removes what the earlier one registered.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import SecretStr

from contracts.integrations import PlusVibeIntegrationChanged, webhook_secret_context
from leads.adapters.orm import PlusVibeIntegrationRow
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal
from leads.domain.webhook_plan import SeenHook, Wanted, added, hook_name, plan, removal, webhook_url
from plusvibe.credentials import Credentials, KeyRing, SealError, fingerprint, mask
from plusvibe.errors import AuthenticationError, PlusVibeError, RateLimitedError, TransientError
from plusvibe.models import Workspace

log = logging.getLogger(__name__)
UowFactory = Callable[[], LeadsUnitOfWork]
WebhookStatus = Literal["registered", "not_registered", "not_configured"]


class Account(Protocol):
    """PlusVibe calls with a given key (adapters/plusvibe_account.py); each raises the client's errors."""

    async def workspaces(self, api_key: SecretStr) -> list[Workspace]: ...
    async def hooks(self, api_key: SecretStr, plusvibe_workspace_id: str) -> list[SeenHook]: ...
    async def add_hook(self, api_key: SecretStr, plusvibe_workspace_id: str, wanted: Wanted) -> str: ...
    async def delete_hooks(self, api_key: SecretStr, plusvibe_workspace_id: str, ids: Sequence[str]) -> None: ...


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
    webhook_status: WebhookStatus = "not_registered"
    webhook_url: str = ""
    webhook_registered_at: datetime | None = None
    webhook_error: str | None = None


@dataclass(frozen=True)
class Webhooks:
    """Where this deployment receives PlusVibe webhooks: `public_base_url` empty → nothing is registered (an operator
    registers hooks by hand against the environment secret's route)."""

    public_base_url: str = ""

    def url(self, workspace: str) -> str:
        return webhook_url(self.public_base_url, workspace) if self.public_base_url else ""

    def name(self, workspace: str) -> str:
        """This deployment's name for the workspace's hook ("" when it registers none)."""
        return hook_name(workspace, self.public_base_url) if self.public_base_url else ""


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


async def reachable_workspaces(account: Account, api_key: SecretStr) -> list[Workspace]:
    try:
        return await account.workspaces(api_key)
    except PlusVibeError as exc:
        raise refusal_for(exc) from None


async def connect(uows: UowFactory, *, keyring: KeyRing | None, account: Account, api_key: SecretStr,
                  plusvibe_workspace_id: str, workspace: str, now: datetime,
                  webhooks: Webhooks) -> IntegrationView:
    """Checks the key, stores it sealed and registers the workspace's webhook, all or nothing: a PlusVibe error while
    registering refuses the connect and stores nothing (a hook PlusVibe created before the error is removed by the
    next connect or test, which removes every hook of the workspace but the one that serves)."""
    ring = _keyring(keyring)
    workspaces = await reachable_workspaces(account, api_key)
    chosen = next((w for w in workspaces if w.id == plusvibe_workspace_id), None)
    if chosen is None:
        raise Refusal("invalid", "plusvibe_workspace_not_on_key",
                      "This API key cannot reach that PlusVibe workspace; pick one of the key's workspaces.",
                      workspaces=[{"id": w.id, "name": w.name} for w in workspaces])
    key = api_key.get_secret_value()
    async with uows() as uow:
        row = await _locked(uow, workspace)
        before = _Previous.of(row, ring)
        changed = not (row.connected and row.key_fingerprint == fingerprint(key) and row.plusvibe_workspace_id
                       == chosen.id and _opens(ring, row.sealed_api_key, workspace))
        if changed:
            # A new key or workspace, or a stored token the KEK no longer opens: sealed, counted and announced.
            # (The same ones again only re-verify, and repair the webhook.)
            row.connected, row.plusvibe_workspace_id = True, chosen.id
            row.sealed_api_key, row.key_fingerprint, row.key_masked = (ring.seal(key, context=workspace),
                                                                       fingerprint(key), mask(key))
            row.connected_at = now
        moved = before.plusvibe_workspace_id not in ("", chosen.id)
        try:
            # A move to another PlusVibe workspace also gets a new secret: a hook left behind in the old one (its
            # key revoked, say) can deliver nothing unibox accepts.
            secret_changed = await _register_webhook(account, row, ring, api_key, webhooks, now, rotate=moved)
        except PlusVibeError as exc:
            raise _webhook_refusal(exc) from None
        if moved and (webhooks.name(workspace) or before.webhook_id):  # as a disconnect: only where hooks can be
            error = await _remove_hooks(account, webhooks.name(workspace), before)
            if error is not None:
                row.webhook_error = error
        if changed or secret_changed:
            row.version += 1
            _announce(uow, row, now)
        row.plusvibe_workspace_name = _display_name(chosen.name)
        row.verified_at, row.last_error, row.last_error_at, row.updated_at = now, None, None, now
        return await _committed(uow, row)


async def disconnect(uows: UowFactory, *, workspace: str, now: datetime, keyring: KeyRing | None = None,
                     account: Account | None = None, webhooks: Webhooks | None = None) -> IntegrationView:
    """Disconnected means disconnected: no service falls back to an environment key afterwards, and unibox refuses
    the workspace's webhooks. The workspace's hooks are removed from PlusVibe first; when that fails (a revoked key,
    PlusVibe unreachable) the disconnect still happens and `webhook_error` says which hook to delete by hand."""
    async with uows() as uow:
        row = await _locked(uow, workspace)
        if not row.connected and row.version > 0:
            return _view(row)  # already disconnected: nothing changes, nothing is announced
        webhook_error = None
        if account is not None:
            previous = _Previous.of(row, keyring)
            name = webhooks.name(workspace) if webhooks is not None else ""
            if previous.plusvibe_workspace_id and (name or previous.webhook_id):
                webhook_error = await _remove_hooks(account, name, previous)
        row.connected, row.plusvibe_workspace_id, row.plusvibe_workspace_name = False, "", ""
        row.sealed_api_key, row.key_fingerprint, row.key_masked = "", "", ""
        row.sealed_webhook_secret, row.webhook_id, row.webhook_url, row.webhook_plusvibe_workspace_id = "", "", "", ""
        row.webhook_registered_at, row.webhook_error = None, webhook_error
        row.verified_at, row.last_error, row.last_error_at, row.updated_at = None, None, None, now
        row.version += 1
        _announce(uow, row, now)
        return await _committed(uow, row)


async def test_connection(uows: UowFactory, *, keyring: KeyRing | None, account: Account, workspace: str,
                          env: Credentials | None, now: datetime, webhooks: Webhooks) -> IntegrationView:
    """Checks the connected key against PlusVibe now and records the outcome (verified at, or the last error).
    A failed check is an answer, not a refusal: the view carries it. A passing check also repairs the webhook (one
    serving hook, every other hook of the workspace removed) and records the outcome in `webhook_error`."""
    async with uows() as uow:
        row = await uow.leads.integration(workspace)
        stored = None if row is None or (row.version == 0 and not row.connected) else _view(row)
        sealed, version = (row.sealed_api_key, row.version) if row is not None else ("", 0)
    if stored is None:
        if env is None:
            raise Refusal("conflict", "plusvibe_not_connected", "Nothing to test: connect a PlusVibe API key first.")
        return await _test_environment(account, env, now)
    if not stored.connected:
        raise Refusal("conflict", "plusvibe_not_connected", "Nothing to test: connect a PlusVibe API key first.")
    try:
        key = _keyring(keyring).open(sealed, context=workspace)
    except SealError:
        raise Refusal("unavailable", "integration_key_unreadable",
                      "The stored key does not open with this deployment's key-encryption key; connect it again.") \
            from None
    error = await _check(account, key, stored.plusvibe_workspace_id)
    async with uows() as uow:
        locked = await _locked(uow, workspace)
        if locked.connected and locked.version == version:  # the connection tested is still the current one
            if error is None:
                locked.verified_at, locked.last_error, locked.last_error_at = now, None, None
                try:
                    if await _register_webhook(account, locked, _keyring(keyring), key, webhooks, now):
                        locked.version += 1
                        _announce(uow, locked, now)
                except PlusVibeError as exc:  # nothing of the registration was written to the row
                    locked.webhook_error = f"webhook not registered: {_safe_label(exc)}"
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
    """KEK rotation: the stored key and webhook secret sealed again under the first KEK and announced (a new
    version), so every service's copy is re-sealed too. True when there was a connected key to reseal."""
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
        if row.sealed_webhook_secret:
            try:
                row.sealed_webhook_secret = ring.reseal(row.sealed_webhook_secret)
            except SealError:  # unibox cannot open it either: its deliveries are refused already; Test makes a new one
                row.sealed_webhook_secret = ""
                row.webhook_error = "the webhook secret did not open with any KEK: Test connection registers a new one"
        row.version, row.updated_at = row.version + 1, now
        _announce(uow, row, now)
        await uow.commit()
        return True


@dataclass(frozen=True)
class _Previous:
    """What a workspace's row says about its hooks before a change: the key that registered them (opened; None
    when nothing is connected or the KEK no longer opens it) and where they are."""

    key: SecretStr | None
    plusvibe_workspace_id: str
    webhook_id: str

    @classmethod
    def of(cls, row: PlusVibeIntegrationRow, ring: KeyRing | None) -> _Previous:
        key = None
        if row.connected and row.sealed_api_key and ring is not None:
            try:
                key = ring.open(row.sealed_api_key, context=row.workspace)
            except SealError:
                key = None
        return cls(key, row.webhook_plusvibe_workspace_id or row.plusvibe_workspace_id, row.webhook_id)


def _webhook_secret(row: PlusVibeIntegrationRow, ring: KeyRing, *, rotate: bool) -> tuple[str, str, bool]:
    """The workspace's webhook secret, sealed, and whether it is new; the row is not touched (it takes the secret
    only once the hook serves with it). The secret outlives key changes within one PlusVibe workspace (a hook being
    replaced and its successor share it, so no delivery is refused in between); a move or a disconnect ends it."""
    if row.sealed_webhook_secret and not rotate:
        try:
            opened = ring.open(row.sealed_webhook_secret, context=webhook_secret_context(row.workspace))
            return opened.get_secret_value(), row.sealed_webhook_secret, False
        except SealError:
            pass  # sealed under a KEK no longer configured: a new secret, announced with the new hook
    secret = secrets.token_urlsafe(32)
    return secret, ring.seal(secret, context=webhook_secret_context(row.workspace)), True


async def _register_webhook(account: Account, row: PlusVibeIntegrationRow, ring: KeyRing, key: SecretStr,
                            webhooks: Webhooks, now: datetime, *, rotate: bool = False) -> bool:
    """Leaves exactly one hook of the workspace in its PlusVibe workspace, serving the current URL and secret: it
    adds the new hook before removing the others (a key change never leaves a moment without one). True when the
    secret is new (the row must be announced). Raises the client's errors, with nothing written to the row."""
    url = webhooks.url(row.workspace)
    if not url:
        return False
    secret, sealed, new_secret = _webhook_secret(row, ring, rotate=rotate)
    wanted = Wanted(name=webhooks.name(row.workspace), url=url, secret=secret)
    pv_workspace = row.plusvibe_workspace_id
    recorded = row.webhook_id if row.webhook_plusvibe_workspace_id == pv_workspace else ""
    decided = plan(await account.hooks(key, pv_workspace), wanted, recorded_id=recorded)
    if decided.keep is not None:
        hook_id, stale = decided.keep, decided.delete
    else:
        hook_id = await account.add_hook(key, pv_workspace, wanted)
        # An add whose answer was lost and retried may have created a second hook: look again, keep only this one.
        seen = await account.hooks(key, pv_workspace)
        hook_id = hook_id or added(seen, wanted)
        if not hook_id:
            raise PlusVibeError("PlusVibe did not say which hook it added", path="/hook/add")
        stale = tuple(i for i in removal(seen, wanted.name, recorded_id=recorded) if i != hook_id)
    await account.delete_hooks(key, pv_workspace, stale)
    if decided.add or row.webhook_id != hook_id or row.webhook_registered_at is None:
        row.webhook_registered_at = now
    row.sealed_webhook_secret = sealed
    row.webhook_id, row.webhook_url, row.webhook_plusvibe_workspace_id = hook_id, url, pv_workspace
    row.webhook_error = None
    if decided.add or stale:
        log.info("PlusVibe webhook registered", extra={"fields": {
            "workspace": row.workspace, "hook_id": hook_id, "added": decided.add, "removed": len(stale)}})
    return new_secret


async def _remove_hooks(account: Account, name: str, previous: _Previous) -> str | None:
    """Removes every hook the workspace owns where it was registered (by `name`, or the recorded id); the error to
    show when that fails or cannot be tried (a key the KEK no longer opens)."""
    where = f"hook {previous.webhook_id or name} in PlusVibe workspace {previous.plusvibe_workspace_id}"
    if previous.key is None:
        return f"the webhook could not be removed (the stored key does not open): delete {where} in PlusVibe"
    try:
        seen = await account.hooks(previous.key, previous.plusvibe_workspace_id)
        await account.delete_hooks(previous.key, previous.plusvibe_workspace_id,
                                   removal(seen, name, recorded_id=previous.webhook_id))
    except PlusVibeError as exc:
        return f"the webhook could not be removed ({_safe_label(exc)}): delete {where} in PlusVibe"
    return None


def _safe_label(exc: PlusVibeError) -> str:
    """`error_label` without PlusVibe's own message, which may echo the request (and so the webhook's secret)."""
    if isinstance(exc, AuthenticationError | RateLimitedError | TransientError):
        return error_label(exc)
    return f"PlusVibe refused it (HTTP {exc.status_code})" if exc.status_code else "PlusVibe refused it"


def _webhook_refusal(exc: PlusVibeError) -> Refusal:
    refusal = refusal_for(exc)
    return Refusal(refusal.kind, refusal.reason,
                   f"The key works, but its webhook could not be registered in PlusVibe ({_safe_label(exc)}); "
                   "nothing was stored.")


async def _check(account: Account, key: SecretStr, plusvibe_workspace_id: str) -> str | None:
    try:
        workspaces = await account.workspaces(key)
    except PlusVibeError as exc:
        return error_label(exc)
    if not any(w.id == plusvibe_workspace_id for w in workspaces):
        return "workspace no longer on this key"
    return None


async def _test_environment(account: Account, env: Credentials, now: datetime) -> IntegrationView:
    error = await _check(account, env.api_key, env.workspace_id)
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
        sealed_api_key=row.sealed_api_key, key_fingerprint=row.key_fingerprint,
        sealed_webhook_secret=row.sealed_webhook_secret, version=row.version, changed_at=now),
        workspace_id=row.workspace, key=row.workspace)


async def _committed(uow: LeadsUnitOfWork, row: PlusVibeIntegrationRow) -> IntegrationView:
    view = _view(row)  # read before the commit expires the row
    await uow.commit()
    return view


def _view(row: PlusVibeIntegrationRow) -> IntegrationView:
    return IntegrationView(
        source="integration", connected=row.connected, plusvibe_workspace_id=row.plusvibe_workspace_id,
        plusvibe_workspace_name=row.plusvibe_workspace_name, key_masked=row.key_masked, version=row.version,
        connected_at=row.connected_at, verified_at=row.verified_at, last_error=row.last_error,
        last_error_at=row.last_error_at, webhook_status=_webhook_status(row), webhook_url=row.webhook_url,
        webhook_registered_at=row.webhook_registered_at, webhook_error=row.webhook_error)


def _webhook_status(row: PlusVibeIntegrationRow) -> WebhookStatus:
    if row.connected and row.webhook_id:
        return "registered"
    return "not_registered"
