"""Reads and writes of the leads schema. Every change of a lead goes through `LeadRepository.touch`, which
bumps the version the LeadUpserted snapshot carries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leads.adapters.orm import AuditRunRow, LeadRow, OutreachEmailRow, PushLedgerRow, StatusHistoryRow

SORTS = {
    "updated_at": LeadRow.updated_at,
    "created_at": LeadRow.created_at,
    "company_name": LeadRow.company_name,
    "domain": LeadRow.domain,
    "status": LeadRow.status,
}


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Rows preloaded by `runs()`: the session's identity map holds rows weakly, so without this
        # reference they could be collected and each later `run()` would query again.
        self._held: list[AuditRunRow] = []

    async def get(self, lead_id: uuid.UUID, *, for_update: bool = False) -> LeadRow | None:
        stmt = select(LeadRow).where(LeadRow.id == lead_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_many(self, ids: Sequence[uuid.UUID], *, for_update: bool = False) -> dict[uuid.UUID, LeadRow]:
        if not ids:
            return {}
        stmt = select(LeadRow).where(LeadRow.id.in_(ids)).order_by(LeadRow.id)
        if for_update:
            stmt = stmt.with_for_update()
        return {row.id: row for row in (await self.session.execute(stmt)).scalars()}

    def add(self, lead: LeadRow) -> None:
        self.session.add(lead)

    @staticmethod
    def touch(lead: LeadRow, now: datetime | None = None) -> None:
        lead.version = (lead.version or 0) + 1
        lead.updated_at = now or datetime.now(UTC)

    async def search(
        self,
        *,
        status: str | None,
        campaign_id: str | None,
        text: str | None,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[LeadRow], int]:
        stmt = select(LeadRow)
        if status:
            stmt = stmt.where(LeadRow.status == status)
        if campaign_id:
            stmt = stmt.where(LeadRow.campaign_id == campaign_id)
        if text:
            like = f"%{text.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(LeadRow.company_name).like(like),
                    func.lower(LeadRow.domain).like(like),
                    func.lower(LeadRow.email).like(like),
                    func.lower(LeadRow.first_name).like(like),
                    func.lower(LeadRow.last_name).like(like),
                )
            )
        total = (await self.session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        column = SORTS[sort]
        order = column.desc() if descending else column.asc()
        rows = (await self.session.execute(stmt.order_by(order, LeadRow.id).offset(offset).limit(limit))).scalars()
        return list(rows), int(total)

    async def legacy_ids(self) -> list[uuid.UUID]:
        return list((await self.session.execute(select(LeadRow.id).where(LeadRow.status == "sent"))).scalars())

    # audit runs
    async def run(self, run_id: uuid.UUID) -> AuditRunRow | None:
        return await self.session.get(AuditRunRow, run_id)

    async def runs(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AuditRunRow]:
        """Several runs in one query (they stay in the session, so later `run()` calls cost no round trip)."""
        if not run_ids:
            return {}
        stmt = select(AuditRunRow).where(AuditRunRow.id.in_(set(run_ids)))
        rows = list((await self.session.execute(stmt)).scalars())
        self._held.extend(rows)
        return {row.id: row for row in rows}

    def add_run(self, run: AuditRunRow) -> None:
        self.session.add(run)

    # history
    def add_history(self, row: StatusHistoryRow) -> None:
        self.session.add(row)

    async def history(self, lead_id: uuid.UUID) -> list[StatusHistoryRow]:
        stmt = select(StatusHistoryRow).where(StatusHistoryRow.lead_id == lead_id).order_by(StatusHistoryRow.id)
        return list((await self.session.execute(stmt)).scalars())

    # outreach emails
    def add_email(self, row: OutreachEmailRow) -> None:
        self.session.add(row)

    async def emails(self, lead_id: uuid.UUID) -> list[OutreachEmailRow]:
        stmt = (
            select(OutreachEmailRow)
            .where(OutreachEmailRow.lead_id == lead_id)
            .order_by(OutreachEmailRow.created_at.desc(), OutreachEmailRow.step)
        )
        return list((await self.session.execute(stmt)).scalars())

    # push ledger
    async def ledger(self, lead_ids: Sequence[uuid.UUID], campaign_id: str) -> dict[uuid.UUID, PushLedgerRow]:
        if not lead_ids:
            return {}
        stmt = select(PushLedgerRow).where(PushLedgerRow.lead_id.in_(lead_ids), PushLedgerRow.campaign_id == campaign_id)
        return {row.lead_id: row for row in (await self.session.execute(stmt)).scalars()}

    def add_ledger(self, row: PushLedgerRow) -> None:
        self.session.add(row)
