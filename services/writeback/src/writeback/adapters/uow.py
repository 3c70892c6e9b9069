"""The writeback unit of work: repositories on the session, and the staged batch flushed at commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from copywriter import DEFAULT_TONE, Tone
from servicekit.errors import TransientError
from servicekit.uow import OutboxSignal, UnitOfWork
from writeback.adapters.batch import StagedBatch
from writeback.adapters.repository import WritebackRepository

_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


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
        try:
            await self.batch.flush(self, self.repo)
        except DBAPIError as exc:
            # Two batches touching the same leads may deadlock or conflict: retry, never dead-letter.
            if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
                raise TransientError(f"database conflict ({type(exc.orig).__name__}); retrying") from exc
            raise
        await super().commit()
        if self.batch.wake_delivery and self.delivery_signal is not None:
            self.delivery_signal.notify()
        self.batch.wake_delivery = False
