"""The writeback unit of work: repositories on the session (projection and attempts, the stored PlusVibe
credentials, the copy settings), and the signal that wakes the delivery loop (`adapters/lead_batch.announce_and_wake`
rings it, after the commit, when a batch left a linked lead's attempt pending)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plusvibe.credential_store import CredentialStore
from servicekit.messaging.uow import OutboxSignal, UnitOfWork
from writeback.adapters.copy_settings import CopySettingsRepository
from writeback.adapters.orm import plusvibe_credentials
from writeback.adapters.repository import WritebackRepository


class WritebackUnitOfWork(UnitOfWork):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *,
                 delivery_signal: OutboxSignal | None = None, **kwargs: Any) -> None:
        super().__init__(session_factory, **kwargs)
        self.delivery_signal = delivery_signal

    async def _open(self) -> None:
        self.repo = WritebackRepository(self.session)
        self.plusvibe_credentials = CredentialStore(self.session, plusvibe_credentials)
        self.copy_settings = CopySettingsRepository(self.session)
