"""PlusVibeIntegrationChanged → the workspace's PlusVibe credentials (newest version wins; an older version arriving
late changes nothing). The API key stays sealed: nothing is opened here."""

from __future__ import annotations

from collections.abc import Callable

from contracts.integrations import PlusVibeIntegrationChanged
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork


async def handle(item: Decoded, uow: WritebackUnitOfWork, *, changed: Callable[[], None] | None = None) -> None:
    """`changed`: called once the batch committed a newer version (this process's PlusVibe port resolves again at
    once instead of after its TTL)."""
    event = item.event
    if not isinstance(event, PlusVibeIntegrationChanged):
        raise TypeError(f"unexpected event {type(event).__name__}")
    if await uow.plusvibe_credentials.keep_newest(event) and changed is not None:
        uow.after_commit(changed)
