"""The writeback unit of work: repositories on the session, and the staged batch flushed at commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from copywriter import DEFAULT_TONE, Tone
from servicekit.messaging.uow import OutboxSignal, UnitOfWork
from writeback.adapters.batch import StagedBatch
from writeback.adapters.repository import WritebackRepository


class WritebackUnitOfWork(UnitOfWork):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, tone: Tone = DEFAULT_TONE,
                 delivery_signal: OutboxSignal | None = None, **kwargs: Any) -> None:
        super().__init__(session_factory, **kwargs)
        self.tone = tone
        self.delivery_signal = delivery_signal
        self.batch = StagedBatch(tone)

    async def _open(self) -> None:
        self.repo = WritebackRepository(self.session)
        self.batch = StagedBatch(self.tone)

    async def commit(self) -> None:
        # Two batches touching the same leads may deadlock or conflict: the kit retries those (is_transient).
        await self.batch.flush(self, self.repo)
        await super().commit()
        if self.batch.wake_delivery and self.delivery_signal is not None:
            self.delivery_signal.notify()
        self.batch.wake_delivery = False
