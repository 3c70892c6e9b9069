"""Poison through the real services (issue 17, item 3).

Two real topics get ~1 % poison of every kind in `poison_corpus` among valid records, and the real consumers
processes of three services read them: writeback's (AuditCompleted → a writeback attempt per unlinked lead;
LeadUpserted → its lead projection), unibox's (LeadUpserted → its email→lead projection) and leads' (AuditCompleted
through its batch-locking handler: the leads are not leads of its own, so a valid record is handled and changes
nothing). Audits' one group (AuditRequested) is not among them: a valid AuditRequested starts a real audit of its
domain, which this test must not make; its consumer is the kit's, the same as these. Afterwards:

- every poison record is in the topic's DLQ exactly once per consumer group, byte for byte, with its origin
  (topic, partition, offset, group) and the error in headers, beside its own headers (a record at the broker's
  size limit: without its own headers, or cut, as the headers say);
- every valid record has its effect exactly once (the services' tables), a redelivery none, poison none;
- every group has committed up to the log end (lag 0, `outreach-ops lag`'s reading);
- each process's own counters (/metrics) agree.

Size: POISON_VALID valid records per topic (default 1,000; POISON_VALID=10000 for the full run); POISON_SEED
replays one shuffle (the seed is printed); POISON_TRACE=1 prints the progress every half second.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import time
from datetime import datetime
from pathlib import Path

import pytest
from poison_corpus import (
    AUDIT_COMPLETED_PLAN,
    LEAD_UPSERTED_PLAN,
    REASONS,
    Rec,
    Stream,
    build_stream,
    parked_kinds,
    poison_kinds,
)
from poison_services import (
    ConsumersProcess,
    Placed,
    consumer_counts,
    consumers_process,
    dlq_depth,
    dlq_entries,
    lag_rows,
    produce,
    table_rows,
)
from sqlalchemy import select

from contracts.envelope import (
    DLQ_HEADER_ERROR,
    DLQ_HEADER_ERROR_CLASS,
    DLQ_HEADER_FAILED_AT,
    DLQ_HEADER_GROUP,
    DLQ_HEADER_HEADERS_DROPPED,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
    DLQ_HEADER_VALUE_TRUNCATED,
)
from contracts.topics import (
    ALL_TOPICS,
    AUDIT_FAILED,
    AUDIT_STARTED,
    EMAIL_ACTIVITY_RECEIVED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    WRITEBACK_COMPLETED,
    WRITEBACK_FAILED,
    WRITEBACK_REQUESTED,
)
from outreach_ops.consumer_groups import consumer_groups
from outreach_ops.offsets import PartitionLag
from outreach_ops.topic_admin import ensure_topics
from servicekit.testing import Database
from unibox.adapters.orm import lead_projection as unibox_leads
from writeback.adapters.orm import lead_projection as writeback_leads
from writeback.adapters.orm import writeback_attempts

ALL_TOPICS_BY_NAME = {spec.name: spec for spec in ALL_TOPICS}
VALID = int(os.environ.get("POISON_VALID", "1000"))
# Start (~10 s) plus ~20 ms per valid record on the slowest group, with room for a 2-core machine.
BUDGET_S = 90 + VALID * 0.02
pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(int(BUDGET_S) + 180)]

# Writeback's projection also holds a row per audited lead (AuditCompleted); a LeadUpserted sets its version.
SNAPSHOT_APPLIED = writeback_leads.c.snapshot_version > 0
SERVICES_RUN = ("writeback", "unibox", "leads")
# What the three processes subscribe to (read from their registrations: a topic a consumer waits for and that does not
# exist stops its process) and what they produce.
TOPICS = tuple({spec.name: spec for spec in (
    *(ALL_TOPICS_BY_NAME[g.topic] for service in SERVICES_RUN
      for g in consumer_groups(Path(__file__).resolve().parents[2]).get(service, [])),
    WRITEBACK_COMPLETED, WRITEBACK_FAILED, AUDIT_STARTED, AUDIT_FAILED, EMAIL_ACTIVITY_RECEIVED,
    LEAD_PUSHED, LEAD_REMOVED_FROM_CAMPAIGN, WRITEBACK_REQUESTED)}.values())


async def test_poison_of_every_kind_is_parked_once_and_every_valid_record_applied_once(
    kafka_bootstrap: str, topic_prefix: str, writeback_db: Database, unibox_db: Database, leads_db: Database,
    log_dir: Path,
) -> None:
    seed = int(os.environ.get("POISON_SEED", str(random.randrange(2**32))))
    rng = random.Random(seed)
    streams = [build_stream(AUDIT_COMPLETED_PLAN, VALID, rng), build_stream(LEAD_UPSERTED_PLAN, VALID, rng)]
    await ensure_topics(kafka_bootstrap, TOPICS, prefix=topic_prefix)
    started = time.monotonic()
    with consumers_process("writeback", writeback_db, kafka_bootstrap, topic_prefix, log_dir) as writeback, \
            consumers_process("unibox", unibox_db, kafka_bootstrap, topic_prefix, log_dir) as unibox, \
            consumers_process("leads", leads_db, kafka_bootstrap, topic_prefix, log_dir) as leads:
        procs = (writeback, unibox, leads)
        placed = {s.plan.spec.name: await produce(kafka_bootstrap, topic_prefix + s.plan.spec.name, s.records)
                  for s in streams}
        produced_at = time.monotonic()
        try:
            await _until_drained(streams, placed, kafka_bootstrap, topic_prefix, writeback_db, unibox_db, procs)
            drained_at = time.monotonic()
            await asyncio.sleep(2.0)  # a record applied or parked twice would show up now
            counts = {**await consumer_counts(writeback), **await consumer_counts(unibox),
                      **await consumer_counts(leads)}
            lags = await lag_rows(kafka_bootstrap, [topic_prefix + g for s in streams for g in s.plan.groups])
            for proc in procs:
                proc.assert_running()
        except BaseException:
            print("\n".join(p.tail() for p in procs))
            raise

    figures = []
    for stream in streams:
        figures.append(await _check_topic(stream, placed[stream.plan.spec.name], kafka_bootstrap, topic_prefix,
                                          writeback_db, unibox_db, counts, lags))
    print(f"\n[poison] seed {seed}, {VALID} valid records per topic: produced {produced_at - started:.1f} s and "
          f"drained (effects, DLQ, lag 0) {drained_at - started:.1f} s after the processes were started")
    for line in figures:
        print(f"[poison] {line}")


async def _until_drained(streams: list[Stream], placed: dict[str, list[Placed]], bootstrap: str, prefix: str,
                         writeback_db: Database, unibox_db: Database, procs: tuple[ConsumersProcess, ...]) -> None:
    """Waits (bounded by BUDGET_S) until every effect and every DLQ record is there and every group's lag is 0."""
    audits, leads = streams
    wanted_dlq = {prefix + s.plan.spec.dlq: sum(len(_parked_by(s, g)) for g in s.plan.groups) for s in streams}
    groups = [prefix + g for s in streams for g in s.plan.groups]
    deadline = time.monotonic() + BUDGET_S
    state = "nothing yet"
    while time.monotonic() < deadline:
        for proc in procs:
            proc.assert_running()
        effects = (
            len(await table_rows(writeback_db, select(writeback_attempts.c.id))),
            len(await table_rows(writeback_db, select(writeback_leads.c.lead_id).where(SNAPSHOT_APPLIED))),
            len(await table_rows(unibox_db, select(unibox_leads.c.lead_id))),
        )
        depths = {topic: await dlq_depth(bootstrap, topic) for topic in wanted_dlq}
        state = f"effects {effects}, DLQ depths {depths}"
        if os.environ.get("POISON_TRACE"):
            print(f"[poison] {time.monotonic() - deadline + BUDGET_S:6.1f} s: {state}", flush=True)
        wanted_effects = (len(audits.valid), len(leads.valid), len(leads.valid))
        if all(got >= want for got, want in zip(effects, wanted_effects, strict=True)) and all(
                depths[t] >= n for t, n in wanted_dlq.items()):
            behind = _behind(await lag_rows(bootstrap, groups), placed, prefix, streams)
            if not behind:
                return
            state += f", behind {behind}"
        await asyncio.sleep(0.5)
    raise AssertionError(f"not drained within {BUDGET_S:.0f} s: {state}")


def _parked_by(stream: Stream, group: str) -> list[Rec]:
    """The poison records `group` must park (`poison_corpus.parked_kinds`)."""
    kinds = set(parked_kinds(stream.plan, group))
    return [r for r in stream.poison if r.label in kinds]


def _behind(lags: list[PartitionLag], placed: dict[str, list[Placed]], prefix: str,
            streams: list[Stream]) -> dict[tuple[str, int], int]:
    """(group, partition) → records not yet committed, for every partition that got records, per group."""
    committed = {(row.group, row.topic, row.partition): row.committed for row in lags}
    behind: dict[tuple[str, int], int] = {}
    for stream in streams:
        topic = prefix + stream.plan.spec.name
        ends: dict[int, int] = {}
        for p in placed[stream.plan.spec.name]:
            ends[p.partition] = max(ends.get(p.partition, 0), p.offset + 1)
        for group in stream.plan.groups:
            for partition, end in ends.items():
                left = end - committed.get((prefix + group, topic, partition), 0)
                if left:
                    behind[(group, partition)] = left
    return behind


async def _check_topic(stream: Stream, placed: list[Placed], bootstrap: str, prefix: str, writeback_db: Database,
                       unibox_db: Database, counts: dict[tuple[str, str], float], lags: list[PartitionLag]) -> str:
    plan = stream.plan
    topic = prefix + plan.spec.name
    by_origin = {(p.partition, p.offset): p for p in placed}
    poison = {(p.partition, p.offset) for p in placed if p.rec.poison}
    valid_leads = {r.lead_id for r in stream.valid}
    conflicts = {r.lead_id: r for r in stream.poison if r.label == "conflicting-id"}
    originals = {r.lead_id: r for r in stream.valid if r.lead_id in conflicts}
    assert set(poison_kinds(plan)) <= {r.label for r in stream.poison}

    # 1. The DLQ: every poison record once per group, unchanged, with its origin and error.
    entries = await dlq_entries(bootstrap, topic + ".dlq")
    seen: collections.Counter[tuple[str, int, int]] = collections.Counter()
    kinds_parked: dict[str, set[str]] = collections.defaultdict(set)
    truncated = 0
    for entry in entries:
        meta = entry.meta
        origin = (int(meta[DLQ_HEADER_PARTITION]), int(meta[DLQ_HEADER_OFFSET]))
        group = meta[DLQ_HEADER_GROUP].removeprefix(prefix)
        seen[(group, *origin)] += 1
        assert meta[DLQ_HEADER_TOPIC] == topic
        assert origin in poison, f"a record that is not poison was parked: {by_origin[origin].rec.label} {meta}"
        rec = by_origin[origin].rec
        value = rec.value if rec.value is not None else b""
        if rec.label == "at-broker-limit":  # the copy cannot carry the dead-letter headers besides all of this
            assert meta[DLQ_HEADER_HEADERS_DROPPED] == str(len({name for name, _ in rec.headers}))
            if DLQ_HEADER_VALUE_TRUNCATED in meta:
                assert meta[DLQ_HEADER_VALUE_TRUNCATED] == str(len(value)) and value.startswith(entry.value or b"")
                truncated += 1
            else:
                assert entry.value == value
        else:
            assert entry.value == value, rec.label
            assert all(header in entry.headers for header in rec.headers), rec.label  # its own headers kept
        assert entry.key == rec.key, rec.label
        assert meta[DLQ_HEADER_ERROR_CLASS] == rec.error_class, (rec.label, meta[DLQ_HEADER_ERROR])
        assert REASONS[rec.label] in meta[DLQ_HEADER_ERROR], (rec.label, meta[DLQ_HEADER_ERROR])
        datetime.fromisoformat(meta[DLQ_HEADER_FAILED_AT])
        kinds_parked[group].add(rec.label)
    duplicates = sum(n - 1 for n in seen.values())
    assert duplicates == 0, [k for k, n in seen.items() if n > 1]
    for group in plan.groups:
        parks = {id(r) for r in _parked_by(stream, group)}
        wanted = {(p.partition, p.offset) for p in placed if id(p.rec) in parks}
        assert {(p, o) for g, p, o in seen if g == group} == wanted, group
        assert kinds_parked[group] == set(parked_kinds(plan, group)), group
    assert len(entries) == sum(len(_parked_by(stream, g)) for g in plan.groups)

    # 2. The effects: each valid record exactly once, with the first payload of a reused id; poison none.
    if plan is AUDIT_COMPLETED_PLAN:
        rows = await table_rows(writeback_db, select(writeback_attempts.c.lead_id, writeback_attempts.c.audit_run_id,
                                                     writeback_attempts.c.status))
        per_lead = collections.Counter(r.lead_id for r in rows)
        assert set(per_lead) == valid_leads and set(per_lead.values()) == {1}
        assert {r.status for r in rows} == {"unlinked"}
        run_of = {r.lead_id: str(r.audit_run_id) for r in rows}
        for lead, original in originals.items():
            assert original.value is not None
            assert run_of[lead] == json.loads(original.value)["data"]["audit_run_id"]
        applied = {"writeback.on_audit_completed": len(rows),
                   "leads.on_audit_completed": int(counts.get((prefix + "leads.on_audit_completed", "applied"), 0))}
    else:
        wb = await table_rows(writeback_db, select(writeback_leads.c.lead_id, writeback_leads.c.contact_email)
                              .where(SNAPSHOT_APPLIED))
        ub = await table_rows(unibox_db, select(unibox_leads.c.lead_id, unibox_leads.c.email))
        assert len(wb) == len({r.lead_id for r in wb}) and {r.lead_id for r in wb} == valid_leads
        assert len(ub) == len({r.lead_id for r in ub}) and {r.lead_id for r in ub} == valid_leads
        wb_email = {r.lead_id: r.contact_email for r in wb}
        ub_email = {r.lead_id: r.email for r in ub}
        for lead, original in originals.items():
            assert original.value is not None
            first = json.loads(original.value)["data"]["lead"]["contact"]["email"]
            assert wb_email[lead] == first and ub_email[lead] == first
        applied = {"writeback.on_lead_upserted": len(wb), "unibox.on_lead_upserted": len(ub)}

    # 3. Lag 0 on every partition of every group, and the processes' own counters agree.
    topic_lags = [row for row in lags if row.topic == topic]
    assert {row.group.removeprefix(prefix) for row in topic_lags} == set(plan.groups)
    assert sum(row.lag for row in topic_lags) == 0, topic_lags
    assert not _behind(lags, {plan.spec.name: placed}, prefix, [stream])
    for group in plan.groups:
        got = {o: counts.get((prefix + group, o), 0) for o in ("applied", "duplicate", "parked")}
        parked = len(_parked_by(stream, group))
        assert got == {"applied": len(stream.valid) + len(stream.poison) - parked,
                       "duplicate": len(stream.redeliveries), "parked": parked}, (group, got)

    return (f"{plan.spec.name}: {len(stream.valid)} valid applied per group {applied}, "
            f"{len(stream.redeliveries)} redeliveries skipped, {len(stream.poison)} poison of "
            f"{len(poison_kinds(plan))} kinds parked per group (a NUL in a text applied, not parked, by "
            f"{', '.join(plan.stores_nothing) or 'none'}: it stores nothing here; {len(entries)} DLQ records for "
            f"{len(plan.groups)} groups; {truncated} cut to fit), {duplicates} DLQ duplicates, "
            f"lag {sum(r.lag for r in topic_lags)}")
