"""The statements a consumer batch of writeback sends to PostgreSQL, counted on the real server.

At a fixed rate of 50 leads/s a batch holds a record or two, so each statement is paid per event, and the pipeline's
latency rode on the CPU those round trips cost (docs/PERFORMANCE.md). A batch of leads writeback already knows locks
their projection rows with one statement (it used to insert every row first, to create the missing ones), and a batch
that writes nothing back (snapshots, pushes, removals: two of writeback's three events per lead) does not read the
attempt heads nor the audit profile (~1 KB of JSON per lead). What stays the same is checked beside it: a lead seen
for the first time gets its row in the workspace of its event, an existing row keeps its own, every row of the batch
is locked until the commit, and a profile not read is never written: whatever order snapshots, pushes, removals and
audits come in, the stored profile is the newest audit's (Hypothesis, judged by a rule written here)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from writeback_testkit import (
    PROFILE,
    T0,
    FakePlusVibe,
    audit_completed,
    decoded,
    lead_pushed,
    lead_removed,
    lead_upserted,
)

from servicekit.messaging.events import Decoded
from servicekit.process.db import create_engine
from servicekit.testing import Database, sent_statements
from writeback.adapters.lead_batch import LeadBatch
from writeback.adapters.orm import lead_projection
from writeback.bootstrap import WritebackService, bootstrap
from writeback.handlers import on_audit_completed, on_lead_pushed, on_lead_removed_from_campaign, on_lead_upserted
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


def locks(sent: list[str]) -> list[str]:
    """The batch's lock statements (two for a lead seen for the first time: lock, create, lock the new row)."""
    found = matching(sent, "FROM lead_projection", "FOR UPDATE")
    assert found
    return found


async def stored(svc: WritebackService, lead: uuid.UUID) -> dict[str, Any]:
    async with svc.runtime.engine.connect() as conn:
        row = (await conn.execute(select(lead_projection).where(lead_projection.c.lead_id == lead))).mappings().one()
    return dict(row)


async def test_a_snapshot_batch_neither_reads_nor_writes_the_audit_profile(service: WritebackService) -> None:
    lead = uuid.uuid4()
    profile = {**PROFILE, "top_issue": "Kept through every snapshot"}
    with sent_statements(service.runtime.engine) as audit:
        await handle(service, [decoded(audit_completed(lead, profile=profile))], on_audit_completed.handle)
    assert all("profile" in statement for statement in locks(audit))  # a batch that writes back reads it

    for version in (2, 3):
        with sent_statements(service.runtime.engine) as snapshot:
            await handle(service, [decoded(lead_upserted(lead, version=version, company=f"Acme {version}"))],
                         on_lead_upserted.handle)
        assert all("profile" not in statement for statement in locks(snapshot))
        assert all("profile" not in statement for statement in matching(snapshot, 'UPDATE "lead_projection"'))
    row = await stored(service, lead)
    assert (row["profile"], row["company_name"], row["snapshot_version"]) == (profile, "Acme 3", 3)


async def test_a_profile_set_in_a_batch_that_did_not_read_it_is_refused(service: WritebackService) -> None:
    lead = uuid.uuid4()
    await handle(service, [decoded(audit_completed(lead))], on_audit_completed.handle)
    async with service.runtime.uow() as uow:
        states = await uow.repo.lock_states({lead: "default"}, datetime.now(UTC), with_profile=False)
        assert states[lead].profile is None  # not read
        states[lead].profile = {"top_issue": "would overwrite the stored profile"}
        with pytest.raises(RuntimeError, match="did not read it"):
            await uow.repo.save_states([states[lead]], datetime.now(UTC))
        await uow.commit()  # refused before any statement: the transaction commits, with nothing written
    assert (await stored(service, lead))["profile"] == PROFILE


# One lead's events in any order and any batching: snapshots (version), pushes, removals and audits (the minute
# they were requested, which orders them).
EVENTS = st.one_of(
    st.tuples(st.just("snapshot"), st.integers(1, 6)),
    st.tuples(st.just("pushed"), st.integers(0, 5)),
    st.tuples(st.just("removed"), st.integers(0, 5)),
    st.tuples(st.just("audit"), st.integers(0, 5)),
)
HANDLERS = {"snapshot": on_lead_upserted.handle, "pushed": on_lead_pushed.handle,
            "removed": on_lead_removed_from_campaign.handle, "audit": on_audit_completed.handle}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENTS, min_size=1, max_size=10), cuts=st.lists(st.booleans(), min_size=10, max_size=10))
async def test_the_stored_profile_is_the_newest_audits_in_any_order_and_batching(
        service: WritebackService, events: list[tuple[str, int]], cuts: list[bool]) -> None:
    lead = uuid.uuid4()
    # Equal minutes are one audit delivered twice (a redelivery), as a replay would.
    runs = {minute: uuid.uuid4() for kind, minute in events if kind == "audit"}

    def item(kind: str, n: int) -> Decoded:
        if kind == "snapshot":
            return decoded(lead_upserted(lead, version=n, company=f"Acme v{n}"))
        if kind == "pushed":
            return decoded(lead_pushed(lead, "camp-1", "jo@acme.test", at=T0 + timedelta(minutes=n)))
        if kind == "removed":
            return decoded(lead_removed(lead, "camp-1", "jo@acme.test", at=T0 + timedelta(minutes=n)))
        return decoded(audit_completed(lead, run_id=runs[n], requested_at=T0 + timedelta(minutes=n),
                                       profile={**PROFILE, "top_issue": f"Issue of minute {n}"}))

    # Consecutive events of one kind may share a batch (a consumer's batch holds one topic's records).
    batches: list[tuple[str, list[Decoded]]] = []
    for (kind, n), cut in zip(events, cuts, strict=False):
        if batches and batches[-1][0] == kind and not cut:
            batches[-1][1].append(item(kind, n))
        else:
            batches.append((kind, [item(kind, n)]))
    for kind, items in batches:
        await handle(service, items, HANDLERS[kind])

    # The judge: the newest audit (latest requested) gave the profile; the highest version gave the company.
    audits = sorted(n for kind, n in events if kind == "audit")
    snapshots = [n for kind, n in events if kind == "snapshot"]
    row = await stored(service, lead)
    assert row["profile"] == ({**PROFILE, "top_issue": f"Issue of minute {audits[-1]}"} if audits else None)
    assert row["company_name"] == (f"Acme v{max(snapshots)}" if snapshots else None)
