"""Rebuilding unibox's email→lead projection (`lead_projection`) from `leads.lead-upserted.v1`, for `outreach-ops`:

    outreach-ops rebuild unibox.ops:rebuild_spec --table lead_projection_rebuild
    outreach-ops rebuild-compare unibox.ops:rebuild_spec --table lead_projection_rebuild
    outreach-ops rebuild-swap unibox.ops:rebuild_spec --table lead_projection_rebuild

(docs/KUBERNETES-RUNBOOK.md, "Rebuilding a projection"). The database is the one the service's settings name
(`UNIBOX_DATABASE_URL` / `DATABASE_URL`, `UNIBOX_DB_SCHEMA`).

The fresh table is `lead_projection`'s ORM table under the new name; every LeadUpserted goes through the live
consumer's upsert (`LeadProjection.apply`: newest `version` wins, a delete keeps a tombstone), in the platform
workspace of its envelope (`contracts.integrations.event_workspace`). The topic is
compacted and kept forever, so a rebuild is complete at any time.

Columns no topic determines, left out of the comparison (`not_derived`):

- `updated_at`: when the row was last written. The rebuild writes the `occurred_at` of the snapshot's event, the
  live consumer its own clock at that moment (the newest of several leads with one address is the one updated
  last either way).
- `opens_checked_at`: when the opens poller last asked PlusVibe about the lead, the poller's own state. The
  swap copies it from the live rows (`carry_over`), so the poller keeps its rotation instead of asking about
  every lead again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from contracts.integrations import event_workspace
from contracts.leads import LeadUpserted
from contracts.topics import LEAD_UPSERTED
from servicekit.messaging.events import Decoded
from servicekit.messaging.rebuild_spec import RebuildSpec, fresh_table
from servicekit.process.db import service_engine
from unibox.adapters.orm import lead_projection
from unibox.adapters.repositories import LeadProjection
from unibox.settings import UniboxSettings

TOPICS = (LEAD_UPSERTED.name,)
NOT_DERIVED = ("updated_at", "opens_checked_at")
CARRY_OVER = ("opens_checked_at",)


def rebuild_spec(table_name: str, settings: UniboxSettings | None = None) -> RebuildSpec:
    s = settings or UniboxSettings()
    engine = service_engine(s)
    table = fresh_table(lead_projection, table_name)

    async def prepare(conn: AsyncConnection) -> None:
        await conn.run_sync(table.create)

    async def handle(item: Decoded, conn: AsyncConnection) -> None:
        event = item.event
        if not isinstance(event, LeadUpserted):
            return
        session = AsyncSession(bind=conn)
        try:
            await LeadProjection(session, table=table).apply(event.lead, deleted=event.deleted,
                                                              at=item.envelope.occurred_at,
                                                              workspace=event_workspace(item.envelope.workspace_id))
        finally:
            await session.close()

    return RebuildSpec(topics=TOPICS, handler=handle, engine=engine, prepare=prepare, live_table=lead_projection.name,
                       not_derived=NOT_DERIVED, carry_over=CARRY_OVER)
