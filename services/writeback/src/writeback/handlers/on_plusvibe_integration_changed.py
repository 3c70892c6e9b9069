"""PlusVibeIntegrationChanged → the workspace's PlusVibe credentials (newest version wins; an older version arriving
late changes nothing). The API key stays sealed: nothing is opened here. Only that workspace's port resolves its
credentials again: the other workspaces' connections are untouched."""

from __future__ import annotations

import functools
from collections.abc import Callable

from contracts.integrations import PlusVibeIntegrationChanged
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork


async def handle(item: Decoded, uow: WritebackUnitOfWork, *,
                 changed: Callable[[str], None] | None = None) -> None:
    """`changed(workspace)`: called once the batch committed a newer version of that workspace's integration (this
    process's PlusVibe port of the workspace resolves again at once instead of after its TTL)."""
    event = item.event
    if not isinstance(event, PlusVibeIntegrationChanged):
        raise TypeError(f"unexpected event {type(event).__name__}")
    if await uow.plusvibe_credentials.keep_newest(event) and changed is not None:
        uow.after_commit(functools.partial(changed, event.workspace))
