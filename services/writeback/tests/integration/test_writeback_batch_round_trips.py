"""The statements a consumer batch of writeback sends to PostgreSQL, counted on the real server.

At a fixed rate of 50 leads/s a batch holds a record or two, so each statement is paid per event, and the pipeline's
latency rode on the CPU those round trips cost (docs/PERFORMANCE.md). A batch of leads writeback already knows locks
their projection rows with one statement (it used to insert every row first, to create the missing ones), and a batch
that writes nothing back (snapshots, pushes, removals: two of writeback's three events per lead) does not read the
attempt heads. What stays the same is checked beside it: a lead seen for the first time gets its row in the
workspace of its event, an existing row keeps its own, and every row of the batch is locked until the commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from writeback_testkit import FakePlusVibe, audit_completed, decoded, lead_upserted

from servicekit.messaging.events import Decoded
from servicekit.process.db import create_engine
from servicekit.testing import Database, sent_statements
from writeback.adapters.lead_batch import LeadBatch
from writeback.adapters.orm import lead_projection
from writeback.bootstrap import WritebackService, bootstrap
from writeback.handlers import on_audit_completed, on_lead_upserted
from writeback.settings import WritebackSettings

pytestmark = pytest.mark.postgres


@pytest.fixture
async def service(pg_database: Database) -> AsyncIterator[WritebackService]:
    settings = WritebackSettings(database_url=pg_database.url, db_schema=pg_database.schema,  # type: ignore[arg-type]
                                 kafka_bootstrap_servers="127.0.0.1:9", log_json=False)
    svc = bootstrap(settings, plusvibe=FakePlusVibe({"camp-1": 3}))
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


def matching(sent: list[str], *words: str) -> list[str]:
    return [statement for statement in sent if all(word in statement for word in words)]


async def handle(svc: WritebackService, items: Sequence[Decoded], handler: Any) -> None:
    async with svc.runtime.uow() as uow:
        await handler(items, uow)
        await uow.commit()


async def test_a_batch_of_known_leads_locks_them_in_one_statement_and_reads_no_attempts(
        service: WritebackService) -> None:
    leads = [uuid.uuid4() for _ in range(3)]
    await handle(service, [decoded(lead_upserted(lead), workspace_id="acme") for lead in leads],
                 on_lead_upserted.handle)
    await handle(service, [decoded(audit_completed(lead), workspace_id="acme") for lead in leads],
                 on_audit_completed.handle)  # every lead now has an attempt: its head is there to be read

    with sent_statements(service.runtime.engine) as snapshots:
        await handle(service, [decoded(lead_upserted(lead, version=2, company="Acme 2"), workspace_id="acme")
                               for lead in leads], on_lead_upserted.handle)
    assert matching(snapshots, 'INSERT INTO "lead_projection"') == []
    assert len(matching(snapshots, "FROM lead_projection", "FOR UPDATE")) == 1
    assert matching(snapshots, "FROM writeback_attempts") == []
    assert len(matching(snapshots, 'UPDATE "lead_projection"')) == 1
    async with service.runtime.engine.connect() as conn:
        names = set((await conn.execute(select(lead_projection.c.company_name)
                                        .where(lead_projection.c.lead_id.in_(leads)))).scalars())
    assert names == {"Acme 2"}

    # A batch that writes back still reads the heads (a replayed audit must not write back twice).
    with sent_statements(service.runtime.engine) as audits:
        await handle(service, [decoded(audit_completed(lead), workspace_id="acme") for lead in leads],
                     on_audit_completed.handle)
    assert len(matching(audits, "FROM writeback_attempts")) == 1
    assert matching(audits, 'INSERT INTO "lead_projection"') == []


async def test_new_and_known_leads_in_one_batch_get_their_workspaces_and_stay_locked_until_commit(
        service: WritebackService, pg_database: Database) -> None:
    known, new = uuid.uuid4(), uuid.uuid4()
    await handle(service, [decoded(lead_upserted(known), workspace_id="acme")], on_lead_upserted.handle)
    other = create_engine(pg_database.url, schema=pg_database.schema)
    try:
        items = [decoded(lead_upserted(new, version=1), workspace_id="beta"),
                 decoded(lead_upserted(known, version=2), workspace_id="acme")]
        with sent_statements(service.runtime.engine) as sent:
            async with service.runtime.uow() as uow:
                batch = await LeadBatch.load(uow, items)
                assert set(batch.states) == {known, new}
                assert (batch.states[known].workspace, batch.states[new].workspace) == ("acme", "beta")
                assert batch.states[known].snapshot_version == 1 and batch.states[new].snapshot_version == 0
                async with other.connect() as conn:  # the known row is held by this batch's transaction
                    with pytest.raises(DBAPIError, match="could not obtain lock"):
                        await conn.execute(select(lead_projection.c.lead_id)
                                           .where(lead_projection.c.lead_id == known).with_for_update(nowait=True))
                    await conn.rollback()
                await uow.commit()
        # Lock the known, create the missing, lock it: three statements for a batch with a new lead.
        assert len(matching(sent, "FROM lead_projection", "FOR UPDATE")) == 2
        assert len(matching(sent, 'INSERT INTO "lead_projection"')) == 1
        async with other.connect() as conn:
            rows = dict((await conn.execute(select(lead_projection.c.lead_id, lead_projection.c.workspace))).all())
        assert rows == {known: "acme", new: "beta"}
    finally:
        await other.dispose()
