"""Rebuilding writeback's per-lead projection (`lead_projection`) from the topics, for `outreach-ops`:

    outreach-ops rebuild writeback.ops:rebuild_spec --table lead_projection_rebuild
    outreach-ops rebuild-compare writeback.ops:rebuild_spec --table lead_projection_rebuild
    outreach-ops rebuild-swap writeback.ops:rebuild_spec --table lead_projection_rebuild

(docs/KUBERNETES-RUNBOOK.md, "Rebuilding a projection"). The database is the one the service's settings name
(`WRITEBACK_DATABASE_URL` / `DATABASE_URL`, `WRITEBACK_DB_SCHEMA`).

The fresh table is `lead_projection`'s ORM table under the new name. Each batch of records goes through the
live consumers' code: `WritebackRepository.lock_states` creates and reads the rows, `domain.projection.project` applies the
newest-wins rules of `domain.projection`, `save_states` writes the changed columns. What the rebuild leaves
out is what the live consumers do besides the projection: no writeback attempt, no event, no PlusVibe call.
A row's `workspace` is that of the first event of its lead, and an event naming the lead under another workspace is
ignored, as live (`adapters.lead_batch`).

Columns no topic determines, left out of the comparison (`not_derived`):

- `updated_at`: when the row was last written. The rebuild writes the `occurred_at` of the event that last
  changed the row (of the first event for a row no event changed), the live consumers their commit time.
- `last_attempt_id`: the lead's newest writeback attempt, the service's own state (the attempts table). The
  swap copies it from the live rows (`carry_over`): a replayed AuditCompleted is then still recognised as
  already written back, and a pending attempt is still superseded by the next one.

The topics are read one after the other (`sequential`): pushes, removals, then snapshots and audits. A
campaign link is newest-wins by time, with a tie going to the push or removal, so applying the explicit link
events first reproduces the order in which they happened: leads publishes a new snapshot with every push and
removal (at that time or later), and once `leads.lead-upserted.v1` is compacted only a lead's latest snapshot
is left, which must come after the pushes it followed. Read together, that snapshot could come first, claim the
link without the pushed email, and the older push would then lose to it.

A rebuild is complete only for what the topics still hold: snapshots are kept forever (compacted); pushes,
removals and audits for 14 days (docs/KUBERNETES-RUNBOOK.md, "Retention and replay windows"). A lead whose last
audit or push is older keeps no audit or link in a rebuilt table: `rebuild-compare` shows it (the audit and link
columns differ), and such a table must not be swapped in. The live consumers also create the (empty) row of a
lead that only a WritebackRequested named; a rebuild does not read that topic, so such a row is only live.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from contracts.topics import AUDIT_COMPLETED, LEAD_PUSHED, LEAD_REMOVED_FROM_CAMPAIGN, LEAD_UPSERTED
from servicekit.messaging.events import Decoded
from servicekit.messaging.rebuild_spec import RebuildSpec, fresh_table
from servicekit.process.db import service_engine
from writeback.adapters.lead_batch import first_workspaces, of_its_workspace
from writeback.adapters.orm import lead_projection
from writeback.adapters.repository import WritebackRepository
from writeback.domain.projection import PROJECTED, project
from writeback.settings import WritebackSettings

TOPICS = (LEAD_PUSHED.name, LEAD_REMOVED_FROM_CAMPAIGN.name, LEAD_UPSERTED.name, AUDIT_COMPLETED.name)
NOT_DERIVED = ("updated_at", "last_attempt_id")
CARRY_OVER = ("last_attempt_id",)


def rebuild_spec(table_name: str, settings: WritebackSettings | None = None) -> RebuildSpec:
    s = settings or WritebackSettings()
    engine = service_engine(s)
    table = fresh_table(lead_projection, table_name)
    staged: list[Decoded] = []

    async def prepare(conn: AsyncConnection) -> None:
        await conn.run_sync(table.create)

    async def handle(item: Decoded, conn: AsyncConnection) -> None:
        if isinstance(item.event, PROJECTED):
            staged.append(item)

    async def flush(conn: AsyncConnection) -> None:
        """The batch set-wise, as the live consumers apply theirs (adapters.lead_batch), in the batch's
        transaction."""
        items = list(staged)
        staged.clear()
        if not items:
            return
        first: dict[UUID, datetime] = {}
        for item in items:
            first.setdefault(item.event.lead_id, item.envelope.occurred_at)  # type: ignore[attr-defined]
        session = AsyncSession(bind=conn)
        try:
            repo = WritebackRepository(session, projection=table)
            now = datetime.now(UTC)
            states = await repo.lock_states(first_workspaces(items), now, times=first)
            changed: dict[UUID, datetime] = {}
            for item in items:
                state = states[item.event.lead_id]  # type: ignore[attr-defined]
                # The live consumers' workspace rule: an event naming the lead under another workspace is ignored.
                if of_its_workspace(state, item) and project(state, item.event, item.envelope):
                    changed[state.lead_id] = item.envelope.occurred_at
            await repo.save_states((states[i] for i in sorted(changed, key=str)), now, times=changed)
        finally:
            await session.close()

    return RebuildSpec(topics=TOPICS, handler=handle, engine=engine, prepare=prepare, flush=flush, sequential=True,
                       live_table=lead_projection.name, not_derived=NOT_DERIVED, carry_over=CARRY_OVER)
