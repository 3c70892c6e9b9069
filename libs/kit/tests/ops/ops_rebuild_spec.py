"""A rebuild spec as a service would expose it, for the CLI test: counts AuditRequested per lead into `table`."""

from __future__ import annotations

import os

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from servicekit.db import create_engine
from servicekit.events import Decoded
from servicekit.ops.rebuild import RebuildSpec


def rebuild_spec(table_name: str) -> RebuildSpec:
    table = Table(table_name, MetaData(), Column("lead_id", String(36), primary_key=True),
                  Column("requests", Integer, nullable=False))

    async def prepare(conn: AsyncConnection) -> None:
        await conn.run_sync(table.metadata.create_all)

    async def handle(item: Decoded, conn: AsyncConnection) -> None:
        lead = str(item.envelope.lead_id)
        row = (await conn.execute(select(table.c.requests).where(table.c.lead_id == lead))).scalar_one_or_none()
        if row is None:
            await conn.execute(table.insert().values(lead_id=lead, requests=1))
        else:
            await conn.execute(table.update().where(table.c.lead_id == lead).values(requests=row + 1))

    return RebuildSpec(topics=["leads.audit-requested.v1"], handler=handle,
                       engine=create_engine(os.environ["OPS_TEST_DATABASE_URL"]), prepare=prepare)
