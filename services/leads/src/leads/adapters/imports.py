"""CSV import's tables (`lead_import_uploads`, `lead_imports`, `lead_import_mappings`) and the lookup of the leads
an import's rows may duplicate."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, Uuid, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from leads.adapters.orm import ImportMappingRow, ImportUploadRow, LeadImportRow, LeadRow


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add_upload(self, row: ImportUploadRow) -> None:
        self.session.add(row)

    async def upload(self, upload_id: uuid.UUID, *, workspace: str) -> ImportUploadRow | None:
        query = select(ImportUploadRow).where(ImportUploadRow.id == upload_id, ImportUploadRow.workspace == workspace)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, import_id: uuid.UUID, *, workspace: str, for_update: bool = False) -> LeadImportRow | None:
        query = select(LeadImportRow).where(LeadImportRow.id == import_id, LeadImportRow.workspace == workspace)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_key(self, idempotency_key: str, *, workspace: str) -> LeadImportRow | None:
        query = (select(LeadImportRow)
                 .where(LeadImportRow.workspace == workspace, LeadImportRow.idempotency_key == idempotency_key)
                 .with_for_update())
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, row: LeadImportRow) -> None:
        self.session.add(row)

    async def progress(self, import_id: uuid.UUID, *, processed: int, at: datetime) -> None:
        await self.session.execute(update(LeadImportRow).where(LeadImportRow.id == import_id)
                                   .values(processed=processed, heartbeat_at=at))

    async def mapping(self, workspace: str) -> dict[str, str] | None:
        row = await self.session.get(ImportMappingRow, workspace)
        return dict(row.mapping) if row is not None else None

    async def remember_mapping(self, workspace: str, mapping: dict[str, str], at: datetime) -> None:
        statement = insert(ImportMappingRow).values(workspace=workspace, mapping=mapping, updated_at=at)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[ImportMappingRow.workspace], set_={"mapping": mapping, "updated_at": at}))

    async def existing_keys(self, workspace: str, *, emails: Iterable[str], domains: Iterable[str]
                            ) -> dict[str, uuid.UUID]:
        """`email:<address>` / `domain:<name>` (lower case) → the id of the most recently updated lead of the
        workspace with it (deleted leads are not matched)."""
        found: dict[str, uuid.UUID] = {}
        for kind, column, values in (("email", LeadRow.email, sorted(set(emails))),
                                     ("domain", LeadRow.domain, sorted(set(domains)))):
            if not values:
                continue
            # A join with the keys as a set (unnest), not `IN (...)`: right after a large import the table's
            # statistics are stale, and the planner then runs an IN list as a sequential scan per chunk (measured:
            # 4.8 s instead of 0.1 s for 10,000 keys); a hash join does not depend on them.
            keys = func.unnest(literal(values, ARRAY(String))).table_valued("key").render_derived()
            query = (select(keys.c.key, LeadRow.id)
                     .join(LeadRow, func.lower(column) == keys.c.key)
                     .where(LeadRow.workspace == workspace, LeadRow.deleted_at.is_(None))
                     .order_by(LeadRow.updated_at.asc()))
            for key, lead_id in (await self.session.execute(query)).all():
                found[f"{kind}:{key}"] = lead_id  # ascending: the newest is written last
        return found

    async def leads(self, ids: Iterable[uuid.UUID], *, workspace: str) -> dict[uuid.UUID, LeadRow]:
        """The leads an import updates, locked (as `existing_keys`: a join with the ids, whatever the statistics)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        keys = func.unnest(literal(wanted, ARRAY(Uuid))).table_valued("id").render_derived()
        query = (select(LeadRow).join(keys, LeadRow.id == keys.c.id).where(LeadRow.workspace == workspace)
                 .with_for_update(of=LeadRow))
        return {row.id: row for row in (await self.session.execute(query)).scalars()}
