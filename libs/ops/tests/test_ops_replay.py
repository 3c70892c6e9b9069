"""Replay: resetting a group's offsets to earliest / a timestamp, the live-group guard, dry run and export."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_kafka_helpers import OpsTopic, committed, consume_as_member, live_member, produce
from typer.testing import CliRunner

from outreach_ops.cli import EXIT_REFUSED, app
from outreach_ops.offsets import apply_replay, plan_replay
from servicekit.messaging.kafka_admin import OpsError

pytestmark = pytest.mark.kafka


def _records(tag: str, count: int) -> list[tuple[int, bytes, bytes, list[tuple[str, bytes]]]]:
    return [(i % 3, f"k{i}".encode(), f"{tag}-{i}".encode(), []) for i in range(count)]


async def test_replay_from_earliest_makes_the_group_read_every_record_again(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 9))
    first = await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)
    assert len(first) == 9
    assert await committed(ops_topic.bootstrap, group, ops_topic.name) == {0: 3, 1: 3, 2: 3}

    plan = await plan_replay(ops_topic.bootstrap, topic=ops_topic.name, group=group)
    assert [(p.partition, p.old, p.new, p.end) for p in plan.partitions] == [(0, 3, 0, 3), (1, 3, 0, 3), (2, 3, 0, 3)]
    assert plan.replayed == 9
    assert await apply_replay(plan) == {0: 0, 1: 0, 2: 0}

    again = await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)
    assert sorted(r.value for r in again) == sorted(r.value for r in first)


async def test_replay_from_a_timestamp_rereads_exactly_the_records_after_it(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    await produce(ops_topic.bootstrap, ops_topic.name, _records("old", 6))
    await asyncio.sleep(0.3)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.3)
    await produce(ops_topic.bootstrap, ops_topic.name, _records("new", 4))
    assert len(await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)) == 10

    plan = await plan_replay(ops_topic.bootstrap, topic=ops_topic.name, group=group, from_timestamp=cut)
    # partitions 0,1 got 2 old + 2 new... by position: old i%3 → p0:2, p1:2, p2:2; new → p0:2, p1:1, p2:1.
    assert {p.partition: (p.old, p.new, p.end) for p in plan.partitions} == {0: (4, 2, 4), 1: (3, 2, 3), 2: (3, 2, 3)}
    assert plan.replayed == 4
    await apply_replay(plan)

    again = await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)
    assert sorted(r.value for r in again) == [b"new-0", b"new-1", b"new-2", b"new-3"]


async def test_replay_is_refused_while_the_group_has_a_live_member_and_offsets_stay(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 6))
    await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)
    idle_plan = await plan_replay(ops_topic.bootstrap, topic=ops_topic.name, group=group)
    member = await live_member(ops_topic.bootstrap, ops_topic.name, group)
    try:
        with pytest.raises(OpsError, match="live member"):
            await plan_replay(ops_topic.bootstrap, topic=ops_topic.name, group=group)
        # A plan made while the group was idle is re-checked before committing.
        with pytest.raises(OpsError, match="live member"):
            await apply_replay(idle_plan)
    finally:
        await member.stop()
    assert await committed(ops_topic.bootstrap, group, ops_topic.name) == {0: 2, 1: 2, 2: 2}


def test_cli_replay_refuses_a_live_group_with_a_nonzero_exit(ops_topic: OpsTopic) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"

    async def scenario() -> tuple[int, str]:
        await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 3))
        await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)
        member = await live_member(ops_topic.bootstrap, ops_topic.name, group)
        try:
            result = await asyncio.to_thread(
                CliRunner().invoke, app,
                ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "replay", "audits.audit-failed.v1",
                 "--group", "svc.on_audit_failed", "--from-earliest", "--yes"])
        finally:
            await member.stop()
        return result.exit_code, result.output

    code, output = asyncio.run(scenario())
    output = " ".join(output.split())  # rich wraps at the terminal width
    assert code == EXIT_REFUSED
    assert "refusing" in output and "Offsets were not changed" in output
    assert asyncio.run(committed(ops_topic.bootstrap, group, ops_topic.name)) == {0: 1, 1: 1, 2: 1}


def test_cli_dry_run_changes_nothing_and_exports_the_old_offsets(ops_topic: OpsTopic, tmp_path: Path) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"

    async def setup() -> None:
        await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 7))
        await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)

    asyncio.run(setup())
    export = tmp_path / "old.json"
    result = CliRunner().invoke(app, ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "replay",
                                      "audits.audit-failed.v1", "--group", "svc.on_audit_failed", "--from-earliest",
                                      "--dry-run", "--export", str(export)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "dry run: offsets unchanged" in output
    assert "7 already-consumed record(s)" in output
    assert asyncio.run(committed(ops_topic.bootstrap, group, ops_topic.name)) == {0: 3, 1: 2, 2: 2}
    document = json.loads(export.read_text())
    assert document["group"] == group and document["topic"] == ops_topic.name
    assert document["offsets"] == {"0": 3, "1": 2, "2": 2}


def test_cli_replay_exports_before_resetting_and_resets(ops_topic: OpsTopic, tmp_path: Path) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"

    async def setup() -> None:
        await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 5))
        await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)

    asyncio.run(setup())
    export = tmp_path / "backup.json"
    result = CliRunner().invoke(app, ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "replay",
                                      "audits.audit-failed.v1", "--group", "svc.on_audit_failed", "--from-earliest",
                                      "--export", str(export), "--yes"])
    assert result.exit_code == 0, result.output
    assert json.loads(export.read_text())["offsets"] == {"0": 2, "1": 2, "2": 1}
    assert asyncio.run(committed(ops_topic.bootstrap, group, ops_topic.name)) == {0: 0, 1: 0, 2: 0}


def test_cli_replay_without_confirmation_changes_nothing(ops_topic: OpsTopic, tmp_path: Path) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"

    async def setup() -> None:
        await produce(ops_topic.bootstrap, ops_topic.name, _records("a", 3))
        await consume_as_member(ops_topic.bootstrap, ops_topic.name, group)

    asyncio.run(setup())
    result = CliRunner().invoke(app, ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "replay",
                                      "audits.audit-failed.v1", "--group", "svc.on_audit_failed", "--from-earliest",
                                      "--export", str(tmp_path / "b.json")], input="n\n")
    assert result.exit_code == 1
    assert asyncio.run(committed(ops_topic.bootstrap, group, ops_topic.name)) == {0: 1, 1: 1, 2: 1}
