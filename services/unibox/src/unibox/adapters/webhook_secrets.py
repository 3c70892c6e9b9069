"""The secret a workspace's PlusVibe webhooks are verified against: its row of `webhook_secrets` (leads'
PlusVibeIntegrationChanged), opened with the deployment's KEK and kept per workspace for a short TTL, so a
delivery costs no read and no decryption while an operator's reconnect or disconnect still reaches every process
within the TTL."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr

from contracts.integrations import webhook_secret_context
from plusvibe.credentials import KeyRing, SealError
from unibox.adapters.thread_cache import TtlCache
from unibox.adapters.uow import UniboxUnitOfWork

# The stored sealed secret of a workspace; None when nothing was ever announced for it.
ReadSealed = Callable[[str], Awaitable[str | None]]


def secret_matches(presented: str | None, expected: str) -> bool:
    """The presented header equals the expected secret, compared in constant time. An empty expected secret
    refuses everything (fail closed)."""
    # compare_digest on bytes of the same type: on str it raises for non-ASCII text.
    return bool(expected) and presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class WorkspaceSecret:
    """What a workspace's deliveries are verified against. `secret` None refuses every delivery: no hook
    registered, the integration disconnected, or (`unreadable`) a sealed secret this deployment cannot open."""

    secret: SecretStr | None
    unreadable: bool = False

    def admits(self, presented: str | None) -> bool:
        return self.secret is not None and secret_matches(presented, self.secret.get_secret_value())


NO_SECRET = WorkspaceSecret(None)
UNREADABLE = WorkspaceSecret(None, unreadable=True)


def open_secret(sealed: str | None, keyring: KeyRing | None, workspace: str) -> WorkspaceSecret:
    """The stored `sealed` secret opened for `workspace`'s context: a token sealed for another workspace, or as an
    API key (context = the workspace itself), does not open."""
    if not sealed:
        return NO_SECRET
    if keyring is None:  # no PLUSVIBE_KEK here: the secret cannot be opened
        return UNREADABLE
    try:
        return WorkspaceSecret(keyring.open(sealed, context=webhook_secret_context(workspace)))
    except SealError:
        return UNREADABLE


class WebhookSecretCache:
    """Each workspace's `WorkspaceSecret`, read and opened at most once per `ttl_s` (refusals included, so a burst
    of deliveries to an unknown workspace does not read the table each time; at most `max_entries` kept)."""

    def __init__(self, read: ReadSealed, keyring: KeyRing | None, *, ttl_s: float, max_entries: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._keyring = keyring
        self._cache: TtlCache[WorkspaceSecret] = TtlCache(ttl_s, max_entries=max_entries, clock=clock)
        self._generation = 0  # bumped by invalidate(): a read that started before it is not kept

    def invalidate(self) -> None:
        """Read every workspace again on its next delivery (this process just stored a newer integration)."""
        self._generation += 1
        self._cache.clear()

    async def secret(self, workspace: str) -> WorkspaceSecret:
        cached = self._cache.get(workspace)
        if cached is not None:
            return cached
        generation = self._generation
        found = open_secret(await self._read(workspace), self._keyring, workspace)
        if generation == self._generation:  # else what was read may predate the change: serve it once, keep nothing
            self._cache.put(workspace, found)
        return found


def stored_webhook_secrets(uows: Callable[[], UniboxUnitOfWork], keyring: KeyRing | None, *,
                           ttl_s: float) -> WebhookSecretCache:
    async def read(workspace: str) -> str | None:
        async with uows() as uow:
            row = await uow.webhook_secrets.get(workspace)
        return row.sealed_secret if row is not None else None

    return WebhookSecretCache(read, keyring, ttl_s=ttl_s)
