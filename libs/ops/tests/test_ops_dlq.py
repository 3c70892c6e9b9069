"""DLQ list / inspect / redrive on the real broker: origin headers shown, each record republished once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from ops_kafka_helpers import OpsTopic, produce
from typer.testing import CliRunner

from contracts.envelope import (
    DLQ_HEADER_ERROR,
    DLQ_HEADER_ERROR_CLASS,
    DLQ_HEADER_GROUP,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
)
from outreach_ops.cli import app
from outreach_ops.dlq import Cursor, inspect_dlq, redrive
from servicekit.messaging.dlq_depth import decode_done, encode_done, list_dlqs, redrive_group
from servicekit.testing import read_topic

pytestmark = pytest.mark.kafka


def _dead_letter(origin: str, partition: int, offset: int, error_class: str) -> tuple[int, bytes, bytes, list[tuple[str, bytes]]]:
    event_id = str(uuid.uuid4())
    headers = {
        HEADER_EVENT_ID: event_id,
        HEADER_EVENT_TYPE: "AuditFailed",
        "correlation_id": "corr-1",
        DLQ_HEADER_TOPIC: origin,
        DLQ_HEADER_PARTITION: str(partition),
        DLQ_HEADER_OFFSET: str(offset),
        DLQ_HEADER_GROUP: "leads.on_audit_failed",
        DLQ_HEADER_ERROR_CLASS: error_class,
        DLQ_HEADER_ERROR: f"{error_class} while handling",
    }
    return 0, f"lead-{offset}".encode(), f'{{"event_id": "{event_id}", "n": {offset}}}'.encode(), \
        [(k, v.encode()) for k, v in headers.items()]


async def _fill_dlq(t: OpsTopic) -> None:
    await produce(t.bootstrap, t.dlq, [
        _dead_letter(t.name, 1, 10, "PoisonMessage"),
        _dead_letter(t.name, 2, 11, "OperationalError"),
        _dead_letter(t.name, 1, 12, "PoisonMessage"),
    ])


async def test_inspect_shows_origin_error_and_event_headers(ops_topic: OpsTopic) -> None:
    await _fill_dlq(ops_topic)
    entries = await inspect_dlq(ops_topic.bootstrap, ops_topic.dlq, limit=2)
    assert [e.offset for e in entries] == [0, 1]
    assert entries[0].origin == f"{ops_topic.name}[1]@10"
    assert entries[1].origin == f"{ops_topic.name}[2]@11"
    assert [e.error_class for e in entries] == ["PoisonMessage", "OperationalError"]
    assert entries[0].error == "PoisonMessage while handling"
    assert entries[0].event_type == "AuditFailed" and uuid.UUID(entries[0].event_id)


async def test_redrive_republishes_each_record_once_across_filtered_and_repeated_runs(ops_topic: OpsTopic) -> None:
    await _fill_dlq(ops_topic)
    dlq_records = await read_topic(ops_topic.bootstrap, ops_topic.dlq, expected=3)

    dry = await redrive(ops_topic.bootstrap, ops_topic.dlq, dry_run=True)
    assert len(dry.redriven) == 3
    first = await redrive(ops_topic.bootstrap, ops_topic.dlq, only_error_class="PoisonMessage")
    assert [e.offset for e in first.redriven] == [0, 2] and first.skipped_filter == [1]
    second = await redrive(ops_topic.bootstrap, ops_topic.dlq)
    assert [e.offset for e in second.redriven] == [1] and second.already_redriven == 1
    third = await redrive(ops_topic.bootstrap, ops_topic.dlq)
    assert third.redriven == [] and third.already_redriven == 0

    origin = await read_topic(ops_topic.bootstrap, ops_topic.name, expected=4, timeout_s=3)
    assert len(origin) == 3  # the dry run published nothing and no record went twice
    by_value = {r.value: r for r in origin}
    for dead in dlq_records:
        republished = by_value[dead.value]
        assert republished.key == dead.key
        headers = dict(republished.headers)
        assert not any(k.startswith("dlq_") for k in headers)
        assert headers[HEADER_EVENT_ID] == dict(dead.headers)[HEADER_EVENT_ID]
        assert headers["correlation_id"] == b"corr-1"
        assert headers["redriven_from"] == f"{ops_topic.dlq}:0:{dead.offset}".encode()

    [summary] = await list_dlqs(ops_topic.bootstrap, prefix=ops_topic.prefix)
    assert (summary.topic, summary.depth, summary.pending) == (ops_topic.dlq, 3, 0)


async def test_dlq_list_counts_records_not_yet_redriven(ops_topic: OpsTopic) -> None:
    await _fill_dlq(ops_topic)
    await redrive(ops_topic.bootstrap, ops_topic.dlq, only_error_class="OperationalError")
    [summary] = await list_dlqs(ops_topic.bootstrap, prefix=ops_topic.prefix)
    assert (summary.depth, summary.pending) == (3, 2)
    assert redrive_group(ops_topic.dlq) == f"ops.redrive.{ops_topic.dlq}"


def test_cli_redrive_asks_then_republishes_and_a_second_run_finds_nothing(ops_topic: OpsTopic) -> None:
    asyncio.run(_fill_dlq(ops_topic))
    base = ["--bootstrap", ops_topic.bootstrap, "--prefix", ops_topic.prefix, "dlq"]
    inspected = CliRunner(env={"COLUMNS": "250"}).invoke(app, [*base, "inspect", "audits.audit-failed.v1.dlq", "--limit", "5"])
    assert inspected.exit_code == 0, inspected.output
    assert "PoisonMessage" in inspected.output and "OperationalError" in inspected.output

    declined = CliRunner(env={"COLUMNS": "250"}).invoke(app, [*base, "redrive", "audits.audit-failed.v1.dlq"], input="n\n")
    assert declined.exit_code == 1
    assert asyncio.run(read_topic(ops_topic.bootstrap, ops_topic.name, expected=1, timeout_s=1)) == []

    done = CliRunner(env={"COLUMNS": "250"}).invoke(app, [*base, "redrive", "audits.audit-failed.v1.dlq", "--yes"])
    assert done.exit_code == 0, done.output
    assert "republished 3 record(s)" in " ".join(done.output.split())
    again = CliRunner(env={"COLUMNS": "250"}).invoke(app, [*base, "redrive", "audits.audit-failed.v1.dlq", "--yes"])
    assert again.exit_code == 0 and "nothing to redrive" in again.output
    assert len(asyncio.run(read_topic(ops_topic.bootstrap, ops_topic.name, expected=4, timeout_s=2))) == 3

    listed = CliRunner(env={"COLUMNS": "250"}).invoke(app, [*base, "list"])
    assert listed.exit_code == 0 and ops_topic.dlq in listed.output


def test_cursor_pins_at_the_first_record_left_behind_and_remembers_later_ones() -> None:
    cursor = Cursor(position=5, done=set())
    cursor.handled(5)
    cursor.left(6)
    cursor.handled(7)
    cursor.handled(8)
    cursor.finish(9)
    assert (cursor.position, cursor.done) == (6, {7, 8})
    assert decode_done(encode_done(cursor.done)) == {7, 8}
    assert encode_done([7, 8, 10]) == '{"done":[[7,8],[10,10]]}'
    resumed = Cursor(position=6, done={7, 8})
    for offset in (6, 7, 8):
        resumed.handled(offset)
    resumed.finish(9)
    assert (resumed.position, resumed.done) == (9, set())
