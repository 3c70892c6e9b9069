"""`lag` and `topics describe` against the real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import OffsetAndMetadata
from ops_kafka_helpers import OpsTopic, produce, tp
from typer.testing import CliRunner

from outreach_ops.cli import app
from outreach_ops.offsets import consumer_lag
from servicekit.messaging.kafka_admin import offsets_consumer

pytestmark = pytest.mark.kafka


async def _commit(t: OpsTopic, group: str, offsets: dict[int, int]) -> None:
    async with offsets_consumer(t.bootstrap, group_id=group) as committer:
        committer.assign([tp(t.name, p) for p in offsets])
        await committer.commit({tp(t.name, p): OffsetAndMetadata(o, "") for p, o in offsets.items()})


async def _setup(t: OpsTopic, group: str) -> None:
    # p0: 4 records, p1: 2, p2: 0
    await produce(t.bootstrap, t.name, [(p, b"k", b"v", []) for p in (0, 0, 0, 0, 1, 1)])
    await _commit(t, group, {0: 1, 1: 2, 2: 0})


async def test_lag_is_end_minus_committed_per_partition(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    await _setup(ops_topic, group)
    rows = await consumer_lag(ops_topic.bootstrap, prefix=ops_topic.prefix)
    assert [(r.group, r.partition, r.committed, r.end, r.lag) for r in rows] == [
        (group, 0, 1, 4, 3), (group, 1, 2, 2, 0), (group, 2, 0, 0, 0)]


def test_cli_lag_and_describe_print_the_numbers(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    asyncio.run(_setup(ops_topic, group))
    runner = CliRunner(env={"COLUMNS": "250"})
    base = ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix]
    lag = runner.invoke(app, [*base, "lag", "--group", "svc.on_audit_failed"])
    assert lag.exit_code == 0, lag.output
    assert "total lag: 3 across 1 group(s)" in lag.output

    described = runner.invoke(app, [*base, "topics", "describe", "audits.audit-failed.v1"])
    assert described.exit_code == 0, described.output
    assert ops_topic.name in described.output
    assert "retention.ms=1209600000" in described.output  # 14 days, set by ensure_topics from the registry
    lines = [line for line in described.output.splitlines() if line.strip().startswith("│")]
    assert len(lines) == 3  # one row per partition

    missing = runner.invoke(app, [*base, "topics", "describe", "no.such.topic.v1"])
    assert missing.exit_code == 2 and "does not exist" in missing.output
