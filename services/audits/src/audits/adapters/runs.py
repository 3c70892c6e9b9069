"""Audit-run rows: queueing (idempotent per run id), leasing a run to one worker, recording its outcome."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from audits.adapters.orm import AuditRunRow

QUEUED, RUNNING, COMPLETED, FAILED = "queued", "running", "completed", "failed"


def _claimable(now: datetime) -> Any:
    return or_(
        AuditRunRow.status == QUEUED,
        and_(AuditRunRow.status == RUNNING, AuditRunRow.lease_until < now),
    )


class AuditRunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, values: dict[str, Any]) -> bool:
        """Inserts a queued run; False (and no change) when a run with that id already exists."""
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(AuditRunRow).values(**values).on_conflict_do_nothing(index_elements=["id"])
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def get(self, run_id: uuid.UUID) -> AuditRunRow | None:
        return await self.session.get(AuditRunRow, run_id, populate_existing=True)

    async def in_workspace(self, run_id: uuid.UUID, workspace: str) -> AuditRunRow | None:
        """The run, only when it belongs to `workspace` (another workspace's run reads as missing)."""
        result = await self.session.execute(
            select(AuditRunRow).where(AuditRunRow.id == run_id, AuditRunRow.workspace_id == workspace)
            .execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def by_slug(self, slug: str) -> AuditRunRow | None:
        result = await self.session.execute(select(AuditRunRow).where(AuditRunRow.report_slug == slug))
        return result.scalar_one_or_none()

    async def claimable(self, now: datetime, limit: int, *, skip_domains: Collection[str] = ()
                        ) -> list[tuple[uuid.UUID, int]]:
        """(id, attempts) of the oldest runs waiting for a worker: queued, or running with an expired lease;
        none of `skip_domains` (lower-case: the caller's domains at their cap)."""
        query = select(AuditRunRow.id, AuditRunRow.attempts).where(_claimable(now))
        if skip_domains:
            query = query.where(func.lower(AuditRunRow.domain).not_in(sorted(skip_domains)))
        result = await self.session.execute(query.order_by(AuditRunRow.queued_at).limit(limit))
        return [(row[0], row[1]) for row in result.all()]

    async def claim(self, run_id: uuid.UUID, attempts: int, *, now: datetime, lease_until: datetime) -> bool:
        """Leases the run to the caller; False when another worker claimed it first (compare-and-set on
        `attempts`, so it works without row locks on SQLite and PostgreSQL alike)."""
        result = await self.session.execute(
            update(AuditRunRow)
            .where(AuditRunRow.id == run_id, AuditRunRow.attempts == attempts, _claimable(now))
            .values(status=RUNNING, attempts=attempts + 1, started_at=now, lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def finish(self, run_id: uuid.UUID, attempt: int, values: dict[str, Any]) -> bool:
        """Records the outcome of attempt `attempt`; False when that attempt no longer owns the run."""
        result = await self.session.execute(
            update(AuditRunRow)
            .where(AuditRunRow.id == run_id, AuditRunRow.status == RUNNING, AuditRunRow.attempts == attempt)
            .values(lease_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
