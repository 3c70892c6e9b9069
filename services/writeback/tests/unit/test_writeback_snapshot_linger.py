"""`WRITEBACK_SNAPSHOT_LINGER_MS` reaches the LeadUpserted subscription alone: the other topics are fetched at once,
and without the setting so is LeadUpserted (the default)."""

from __future__ import annotations

import pytest

from contracts.topics import LEAD_UPSERTED
from servicekit.testing import Database
from writeback.bootstrap import bootstrap


@pytest.mark.parametrize("linger_ms", [None, 100])
async def test_the_snapshot_linger_applies_to_lead_snapshots_only(sqlite_database: Database,
                                                                   linger_ms: int | None) -> None:
    overrides = {} if linger_ms is None else {"snapshot_linger_ms": linger_ms}
    svc = bootstrap(plusvibe=object(), database_url=sqlite_database.url, **overrides)  # type: ignore[arg-type]
    try:
        members = svc.runtime.get_broker().kit_subscribers
        lingers = {member.topic: member.linger_ms for member in members}
    finally:
        await svc.runtime.dispose()
    snapshots = svc.settings.topic(LEAD_UPSERTED)
    assert lingers[snapshots] == (linger_ms or 0)
    assert len(lingers) >= 6 and all(ms == 0 for topic, ms in lingers.items() if topic != snapshots), lingers
