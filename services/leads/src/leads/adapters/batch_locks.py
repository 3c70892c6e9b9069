"""Lead events handled a batch at a time: the batch's leads are locked up front, in id order, in one statement,
and their audit runs loaded in one more.

The audit and writeback consumers each hold their batch's lead rows until the batch commits. Locking them
one by one in arrival order let two batches over the same leads wait on each other (PostgreSQL deadlock →
the batch is rolled back and replayed record by record). Taking every lock at the start, sorted, makes
the order the same for every batch. The runs stay in the session, so the handlers' `leads.run(...)`
lookups (announce, AuditCompleted) no longer cost a round trip each.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from leads.adapters.uow import LeadsUnitOfWork
from servicekit.messaging.consumer import Handler, batch_handler, each
from servicekit.messaging.events import Decoded


def with_batch_leads_locked(handle: Handler[LeadsUnitOfWork]) -> batch_handler[LeadsUnitOfWork]:
    """The batch handler of a lead event: locks the batch's leads (`lock_batch_leads`), then `handle`s each event."""
    handle_each = each(handle)

    async def handle_batch(items: Sequence[Decoded], uow: LeadsUnitOfWork) -> None:
        await lock_batch_leads(items, uow)
        await handle_each(items, uow)

    return batch_handler(handle_batch)


async def lock_batch_leads(items: Sequence[Decoded], uow: LeadsUnitOfWork) -> None:
    ids = {lead_id for item in items if isinstance(lead_id := getattr(item.event, "lead_id", None), uuid.UUID)}
    if not ids:
        return
    # Of any workspace: this only takes the locks; each event then reads its lead within its own workspace.
    leads = await uow.leads.get_many(sorted(ids), workspace=None, for_update=True)  # ORDER BY id ... FOR UPDATE
    run_ids = {lead.audit_run_id for lead in leads.values() if lead.audit_run_id is not None}
    run_ids |= {run_id for item in items if isinstance(run_id := getattr(item.event, "audit_run_id", None), uuid.UUID)}
    await uow.leads.runs(sorted(run_ids))
