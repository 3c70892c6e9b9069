"""The audits unit of work: the kit's transaction (outbox, inbox) plus the audit-run repository."""

from __future__ import annotations

from audits.adapters.runs import AuditRunRepository
from servicekit.messaging.uow import UnitOfWork


class AuditsUnitOfWork(UnitOfWork):
    runs: AuditRunRepository

    async def _open(self) -> None:
        self.runs = AuditRunRepository(self.session)
