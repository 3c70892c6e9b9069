"""`outreach-ops reset-offsets`, with Kafka's own conventions (`--bootstrap-server`, `--to-earliest`, `--to-latest`,
`--to-datetime`, `--shift-by`, `--to-offset`, `--from-file`, dry run by default and `--execute`), JSON and CSV
output, the old offsets saved outside the working directory before anything changes, and a restore from that
export or from Kafka's CSV — on the real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ops_kafka_helpers import OpsTopic, committed, consume_as_member, live_member, produce
from typer.testing import CliRunner

from outreach_ops.cli import EXIT_REFUSED, app

pytestmark = pytest.mark.kafka
GROUP = "svc.on_audit_failed"
TOPIC = "audits.audit-failed.v1"


@pytest.fixture
def consumed(ops_topic: OpsTopic) -> OpsTopic:
    """9 records on 3 partitions, all read by GROUP: committed 3 on each partition."""
    records = [(i % 3, f"k{i}".encode(), f"v{i}".encode(), []) for i in range(9)]
    asyncio.run(produce(ops_topic.bootstrap, ops_topic.name, records))  # type: ignore[arg-type]
    asyncio.run(consume_as_member(ops_topic.bootstrap, ops_topic.name, f"{ops_topic.prefix}{GROUP}"))
    assert _committed(ops_topic) == {0: 3, 1: 3, 2: 3}
    return ops_topic


def _committed(t: OpsTopic) -> dict[int, int]:
    return asyncio.run(committed(t.bootstrap, f"{t.prefix}{GROUP}", t.name))


def _ops(t: OpsTopic, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["--bootstrap-server", t.bootstrap, "--prefix", t.prefix, "reset-offsets",
                                    "--group", GROUP, "--topic", TOPIC, *args], env=env)


def _json(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def test_without_execute_it_only_plans(consumed: OpsTopic) -> None:
    plan = _json(_ops(consumed, "--to-earliest", "--output", "json"))
    assert plan["executed"] is False and plan["old_offsets_saved_to"] is None
    assert [(p["partition"], p["current_offset"], p["new_offset"], p["records_replayed"]) for p in plan["partitions"]] \
        == [(0, 3, 0, 3), (1, 3, 0, 3), (2, 3, 0, 3)]
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}


def test_shift_execute_saves_the_old_offsets_outside_the_working_directory_and_restores_from_them(
        consumed: OpsTopic, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    done = _json(_ops(consumed, "--shift-by", "-1", "--execute", "-o", "json",
                      env={"OUTREACH_OPS_EXPORT_DIR": str(exports)}))
    assert done["executed"] is True
    assert _committed(consumed) == {0: 2, 1: 2, 2: 2}
    saved = Path(done["old_offsets_saved_to"])
    assert saved.parent == exports and json.loads(saved.read_text())["offsets"] == {"0": 3, "1": 3, "2": 3}

    _json(_ops(consumed, "--from-file", str(saved), "--execute", "-o", "json",
               env={"OUTREACH_OPS_EXPORT_DIR": str(exports)}))
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}


def test_kafka_csv_round_trip_and_targets_kept_within_the_retained_range(consumed: OpsTopic, tmp_path: Path) -> None:
    clamped = _ops(consumed, "--to-offset", "99", "--output", "csv")  # beyond the end: the end
    assert clamped.exit_code == 0, clamped.output
    assert clamped.output.splitlines() == [f"{consumed.name},{p},3" for p in range(3)]

    csv = tmp_path / "offsets.csv"
    csv.write_text(f"{consumed.name},0,1\n{consumed.name},1,2\nother.topic,0,7\n")  # p2 not named: unchanged
    _json(_ops(consumed, "--from-file", str(csv), "--execute", "-o", "json", "--export", str(tmp_path / "old.json")))
    assert _committed(consumed) == {0: 1, 1: 2, 2: 3}

    _json(_ops(consumed, "--shift-by", "-10", "--execute", "-o", "json", "--export", str(tmp_path / "o2.json")))
    assert _committed(consumed) == {0: 0, 1: 0, 2: 0}  # before the first record: the first record
    _json(_ops(consumed, "--to-latest", "--execute", "-o", "json", "--export", str(tmp_path / "o3.json")))
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}


def test_a_time_after_the_last_record_moves_to_the_end(consumed: OpsTopic) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    plan = _json(_ops(consumed, "--to-datetime", later, "-o", "json"))
    assert [p["new_offset"] for p in plan["partitions"]] == [3, 3, 3]


@pytest.mark.parametrize(("args", "says"), [
    (["--to-earliest", "--to-latest"], "exactly one of"),
    ([], "exactly one of"),
    (["--to-earliest", "--execute", "--dry-run"], "not both"),
    (["--to-earliest", "--output", "xml"], "table, json or csv"),
    (["--to-datetime", "yesterday"], "not an ISO-8601 timestamp"),
])
def test_bad_requests_are_refused_and_change_nothing(consumed: OpsTopic, args: list[str], says: str) -> None:
    result = _ops(consumed, *args)
    assert result.exit_code == EXIT_REFUSED
    assert says in result.output
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}


@pytest.mark.parametrize(("content", "says"), [
    ("not,a,number\n", "line 1: expected topic,partition,offset"),
    ("{\"offsets\": 5}", "not an offsets export"),
    ("PARTITION_7", "line 1"),
    ("other.topic,0,1\n", "has no offsets for"),
])
def test_a_bad_offsets_file_is_refused(consumed: OpsTopic, tmp_path: Path, content: str, says: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content.replace("PARTITION_7", f"{consumed.name},7"))
    result = _ops(consumed, "--from-file", str(bad), "--execute")
    assert result.exit_code == EXIT_REFUSED
    assert says in " ".join(result.output.split())
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}


def test_a_file_naming_a_partition_the_topic_lacks_is_refused(consumed: OpsTopic, tmp_path: Path) -> None:
    bad = tmp_path / "seven.csv"
    bad.write_text(f"{consumed.name},7,1\n")
    result = _ops(consumed, "--from-file", str(bad), "--execute")
    assert result.exit_code == EXIT_REFUSED
    assert "partitions [7]" in " ".join(result.output.split())


def test_refused_while_the_group_has_a_live_member(consumed: OpsTopic) -> None:
    async def with_member() -> Any:
        member = await live_member(consumed.bootstrap, consumed.name, f"{consumed.prefix}{GROUP}")
        try:
            return await asyncio.to_thread(_ops, consumed, "--to-earliest", "--execute")
        finally:
            await member.stop()

    result = asyncio.run(with_member())
    assert result.exit_code == EXIT_REFUSED
    assert "live member" in " ".join(result.output.split())
    assert _committed(consumed) == {0: 3, 1: 3, 2: 3}
