"""Rebuild specs as a service would expose them, for the CLI tests: `rebuild_spec` counts AuditRequested per lead
into `table`; `swap_spec` names a live table for `rebuild-compare` and `rebuild-swap`."""

from __future__ import annotations

import os

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from servicekit.messaging.events import Decoded
from servicekit.messaging.rebuild_spec import RebuildSpec, fresh_table
from servicekit.process.db import JsonType, UTCDateTime, create_engine


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


# For the compare/swap tests: a live table `requests` as a service's ORM would define it; `note` is the service's
# own state (carried over at the swap), `seen_at` the time a row was written (not compared).
live_metadata = MetaData()
requests = Table("requests", live_metadata, Column("lead_id", String(36), primary_key=True),
                 Column("requests", Integer, nullable=False), Column("profile", JsonType, nullable=True),
                 Column("note", Text, nullable=True), Column("seen_at", UTCDateTime, nullable=True))
Index("ix_requests_note", requests.c.note)
Index("by_count", requests.c.requests)  # a name without the table's


def swap_spec(table_name: str) -> RebuildSpec:
    table = fresh_table(requests, table_name)

    async def prepare(conn: AsyncConnection) -> None:
        await conn.run_sync(table.create)

    async def handle(item: Decoded, conn: AsyncConnection) -> None:
        return None

    return RebuildSpec(topics=["leads.audit-requested.v1"], handler=handle,
                       engine=create_engine(os.environ["OPS_TEST_DATABASE_URL"]), prepare=prepare,
                       live_table=requests.name, not_derived=("note", "seen_at"), carry_over=("note",))
