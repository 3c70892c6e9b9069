"""Keeps the workspace's PlusVibe credentials and webhook secret from leads.PlusVibeIntegrationChanged (newest
version wins; an older version arriving late changes nothing). The API key and the secret stay sealed: nothing is
opened here."""

from __future__ import annotations

from collections.abc import Callable

from contracts.integrations import PlusVibeIntegrationChanged
from servicekit.messaging.events import Decoded
from unibox.adapters.uow import UniboxUnitOfWork


async def handle(item: Decoded, uow: UniboxUnitOfWork, *, changed: Callable[[str], None] | None = None) -> None:
    """`changed(workspace)`: called once the batch committed a newer version of either (this process's PlusVibe port
    and webhook secret of that workspace resolve again at once instead of after their TTL)."""
    event = item.event
    if not isinstance(event, PlusVibeIntegrationChanged):
        raise TypeError(f"unexpected event {type(event).__name__}")
    credentials = await uow.plusvibe_credentials.keep_newest(event)
    # A disconnected workspace refuses every webhook, whatever secret a malformed event still carries.
    secret = await uow.webhook_secrets.keep_newest(
        event.workspace, sealed_secret=event.sealed_webhook_secret if event.connected else "", version=event.version,
        changed_at=event.changed_at)
    if (credentials or secret) and changed is not None:
        workspace = event.workspace
        uow.after_commit(lambda: changed(workspace))
