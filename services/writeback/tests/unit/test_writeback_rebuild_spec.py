"""writeback.ops's rebuild spec on SQLite, without a broker: records in the order the kit reads them (the spec's
topics one after the other) through `handler` and `flush`, as `rebuild_projection` applies a batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from writeback_testkit import T0, audit_completed, decoded, lead_pushed, lead_upserted, writeback_requested

from contracts.topics import AUDIT_COMPLETED, LEAD_PUSHED, LEAD_REMOVED_FROM_CAMPAIGN, LEAD_UPSERTED
from servicekit.messaging.events import Decoded
from servicekit.messaging.rebuild_spec import RebuildSpec, fresh_table
from servicekit.testing import Database
from writeback.adapters.orm import lead_projection
from writeback.domain.projection import LeadState, apply_pushed, apply_snapshot
from writeback.ops import rebuild_spec
from writeback.settings import WritebackSettings

M = timedelta(minutes=1)


async def _rebuild(spec: RebuildSpec, batches: Sequence[Sequence[Decoded]]) -> dict[uuid.UUID, Any]:
    try:
        async with spec.engine.begin() as conn:
            assert spec.prepare is not None
            await spec.prepare(conn)
        for batch in batches:
            async with spec.engine.begin() as conn:
                for item in batch:
                    await spec.handler(item, conn)
                assert spec.flush is not None
                await spec.flush(conn)
        table = fresh_table(lead_projection, "lp_rebuild")
        async with spec.engine.connect() as conn:
            return {r.lead_id: r for r in await conn.execute(select(table))}
    finally:
        await spec.engine.dispose()


def test_the_spec_reads_pushes_and_removals_before_snapshots_and_audits(sqlite_database: Database) -> None:
    spec = rebuild_spec("lp_rebuild", WritebackSettings(database_url=sqlite_database.url))  # type: ignore[arg-type]
    assert list(spec.topics) == [LEAD_PUSHED.name, LEAD_REMOVED_FROM_CAMPAIGN.name, LEAD_UPSERTED.name,
                                 AUDIT_COMPLETED.name]
    assert spec.sequential and spec.live_table == "lead_projection"
    assert (set(spec.not_derived), set(spec.carry_over)) == ({"updated_at", "last_attempt_id"}, {"last_attempt_id"})


async def test_batches_apply_the_live_rules_and_stamp_rows_with_the_events_time(sqlite_database: Database) -> None:
    spec = rebuild_spec("lp_rebuild", WritebackSettings(database_url=sqlite_database.url))  # type: ignore[arg-type]
    lead, other = uuid.uuid4(), uuid.uuid4()
    push = decoded(lead_pushed(lead, "camp-1", "pushed@acme.test", at=T0 + 10 * M))
    v2 = decoded(lead_upserted(lead, version=2, email="jo@acme.test", campaign_id="camp-1", company="Two", at=T0 + 10 * M))
    v1 = decoded(lead_upserted(lead, version=1, email="old@acme.test", company="One"))
    newer, older = audit_completed(lead, requested_at=T0 + 60 * M), audit_completed(lead, requested_at=T0)
    audits = [decoded(newer), decoded(older)]
    manual = decoded(writeback_requested(other, "camp-1"))  # not a projection topic: ignored
    rows = await _rebuild(spec, [[push, v2], [v1, *audits, manual]])
    assert set(rows) == {lead}
    row = rows[lead]
    assert (row.snapshot_version, row.company_name, row.contact_email) == (2, "Two", "jo@acme.test")
    assert (row.campaign_id, row.link_email, row.link_at) == ("camp-1", "pushed@acme.test", T0 + 10 * M)
    assert (row.audit_run_id, row.audit_event_id) == (newer.audit_run_id, audits[0].envelope.event_id)
    envelope = audits[0].envelope
    assert row.audit_correlation_id == (envelope.correlation_id or envelope.event_id)
    assert row.profile == newer.profile.model_dump()
    assert row.last_attempt_id is None
    assert row.updated_at == audits[0].envelope.occurred_at  # the last event that changed the row


def test_why_pushes_come_first_once_the_snapshot_topic_is_compacted() -> None:
    """After compaction only the lead's latest snapshot is left (a later update of a pushed lead). Applied after
    the push, as it happened, it keeps the pushed address; applied first, the older push loses to it."""
    lead = uuid.uuid4()
    push = lead_pushed(lead, "camp-1", "pushed@acme.test", at=T0 + 10 * M)
    latest = lead_upserted(lead, version=4, email="jo@acme.test", campaign_id="camp-1", at=T0 + 40 * M)
    in_order = LeadState(lead)
    apply_pushed(in_order, push)
    apply_snapshot(in_order, latest)
    reversed_ = LeadState(lead)
    apply_snapshot(reversed_, latest)
    apply_pushed(reversed_, push)
    assert (in_order.campaign_id, in_order.link_email) == ("camp-1", "pushed@acme.test")
    assert (reversed_.campaign_id, reversed_.link_email) == ("camp-1", None)
