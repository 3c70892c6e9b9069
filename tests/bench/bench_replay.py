"""Replay at ops speed: the REAL writeback consumers (the service's own bootstrap, against a bench schema) read
N AuditCompleted records once, then ops reset the group to the earliest offset and replay the whole topic
through the same consumer, whose inbox has seen every event already. Figures: the replay's events/s beside a
raw consume of the same topic (plain aiokafka, same batch size, no processing) in the same run, the state of
every writeback table before/after (row count + sum of row hashes) and the PlusVibe requests the simulator
logged during the replays (both must not change). The same for writeback's lead-snapshot consumer
(`leads.lead-upserted`), and a window replay (group reset to a timestamp in the middle of the topic).

Setup (not measured): the leads' snapshots (and LeadPushed for the few linked ones, enrolled in the simulator)
are consumed first, so AuditCompleted finds every lead; the linked ones are delivered to the simulator during
the first pass. Each pass runs a fresh writeback bootstrap in this process (consumers + delivery worker, what
`writeback.entrypoints.consumers` runs); a reset happens while no member is in the group, as ops would do it.

    .venv/bin/python tests/bench/bench_replay.py replay_events=3000
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from _common import (
    DB_URL,
    KAFKA,
    SIM_KEY,
    SIM_WORKSPACE,
    processes,
    raw_dsn,
    run_id,
    run_standalone,
    schemas_and_topics,
    simulator_campaigns,
    spawn_simulator,
    wait_http,
)
from _fixtures import audit_completed, lead_rows, ready_variables
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import Envelope
from contracts.leads import LeadPushed, LeadUpserted
from contracts.topics import AUDIT_COMPLETED, LEAD_PUSHED, LEAD_UPSERTED, TopicSpec
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.events import new_envelope

if TYPE_CHECKING:
    from writeback.bootstrap import WritebackService

EVENTS = 100_000
LINKED_MAX = 50  # leads linked to the simulator's campaign: delivered in the first pass, never again
SIM_RATE = 20.0
BATCH = 500  # the consumers' `consumer_max_records`; the raw consume reads batches of the same size
PRODUCE_CHUNK = 5000


# ---------------------------------------------------------------------------------------------- records
def snapshot_envelope(lead: dict[str, Any], run: dict[str, Any] | None) -> Envelope:
    """LeadUpserted exactly as the leads service builds it (its own `lead_snapshot` of its ORM rows)."""
    from leads.adapters.orm import AuditRunRow, LeadRow
    from leads.adapters.snapshot import lead_snapshot

    row = LeadRow(**lead)
    audit_run = AuditRunRow(**run) if run else None
    return new_envelope(LeadUpserted(lead_id=lead["id"], lead=lead_snapshot(row, audit_run)))


def snapshot_envelopes(leads: list[dict[str, Any]], runs: list[dict[str, Any]]) -> Iterator[Envelope]:
    by_lead = {r["lead_id"]: r for r in runs}
    for lead in leads:
        yield snapshot_envelope(lead, by_lead.get(lead["id"]))


def snapshot_leads(n: int, *, tag: str, complete: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`complete`: leads whose writeback was applied (the largest snapshots: every variable in them)."""
    if complete:
        return lead_rows(n, tag=tag, status="email_generated", audited=True, variables=ready_variables(steps=3))
    return lead_rows(n, tag=tag, status="audit_queued", audited=True)


async def produce(topic: str, envelopes: Iterable[Envelope]) -> int:
    """Sends the envelopes as the relay would (key, CloudEvents headers, acks=all idempotent); returns the count."""
    from servicekit.messaging.kafka_config import producer_options
    from servicekit.testing import envelope_record

    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, **{**producer_options("bench-replay"), "linger_ms": 5})
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for envelope in envelopes:
            key, value, headers = envelope_record(envelope)
            pending.append(await producer.send(topic, value=value, key=key, headers=headers))
            sent += 1
            if len(pending) >= PRODUCE_CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


# ---------------------------------------------------------------------------------------------- offsets
def partitions(topic: str, spec: TopicSpec) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(spec.partitions)]


async def reset_group(group: str, topic: str, spec: TopicSpec, *, at_ms: int | None = None) -> int:
    """Commits the group's offsets to the earliest record (or the first at/after `at_ms`) while the group has no
    member, as `kafka-consumer-groups --reset-offsets` does; returns the records the group will read again."""
    tps = partitions(topic, spec)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        start = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        if at_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, at_ms))
            start = {tp: (found[tp].offset if found[tp] is not None else end[tp]) for tp in tps}
        await consumer.commit(dict(start))
    finally:
        await consumer.stop()
    return sum(end[tp] - start[tp] for tp in tps)


@dataclass
class Timing:
    """Start of the pass, the first batch seen (how many records it held), all expected records seen. The rate
    counts the records after the first batch over the time after it: start-up and group join are left out."""

    records: int
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    first_records: int = 0
    done: float | None = None
    timed_out: bool = False

    def saw(self, seen: int) -> None:
        if seen and self.first is None:
            self.first, self.first_records = time.perf_counter(), seen

    def figures(self, prefix: str) -> dict[str, Any]:
        if self.done is None or self.first is None:
            return {f"{prefix}_records": self.records, f"{prefix}_timed_out": True}
        whole = max(self.done - self.started, 1e-9)
        after, steady = self.records - self.first_records, self.done - self.first
        return {f"{prefix}_records": self.records, f"{prefix}_s": round(whole, 2),
                f"{prefix}_after_first_s": round(steady, 2),
                f"{prefix}_events_per_s": round(after / steady) if after > 0 and steady > 0 else None,
                f"{prefix}_events_per_s_incl_start": round(self.records / whole)}


async def raw_consume(topic: str, spec: TopicSpec, records: int) -> Timing:
    """The ceiling: a plain aiokafka consumer reading the topic from its start, batches of `BATCH`, no work."""
    tps = partitions(topic, spec)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest")
    timing = Timing(records)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        while seen < records:
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            seen += sum(len(v) for v in batches.values())
            timing.saw(seen)
        timing.done = time.perf_counter()
    finally:
        await consumer.stop()
    return timing


# ---------------------------------------------------------------------------------------------- writeback
@dataclass
class Writeback:
    """A writeback bootstrap running its consumers and delivery worker in this process."""

    service: WritebackService
    stop: asyncio.Event
    task: asyncio.Task[None]

    def consumer(self, spec: TopicSpec) -> EventConsumer[Any]:
        return next(c for c in self.service.runtime.consumers if c.topic == spec)

    def seen(self, spec: TopicSpec) -> int:
        s = self.consumer(spec).stats
        return s.applied + s.duplicates + s.parked + s.conflicts

    async def wait_seen(self, spec: TopicSpec, records: int, *, timeout_s: float) -> Timing:
        timing = Timing(records)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the writeback workers stopped")
            seen = self.seen(spec)
            timing.saw(seen)
            if seen >= records:
                timing.done = time.perf_counter()
                break
            await asyncio.sleep(0.01)
        return timing


@contextlib.asynccontextmanager
async def writeback(schema: str, prefix: str, sim: str) -> AsyncIterator[Writeback]:
    from plusvibe.settings import PlusVibeSettings
    from servicekit.process.pooling import size_pool
    from servicekit.process.runtime import kit_loops, run_loops
    from writeback.bootstrap import bootstrap
    from writeback.settings import WritebackSettings

    logging.getLogger("faststream").setLevel(logging.WARNING)  # a line per batch otherwise
    settings = WritebackSettings(database_url=DB_URL, db_schema=schema, kafka_topic_prefix=prefix,
                                 kafka_bootstrap_servers=KAFKA, log_level="WARNING")
    pv = PlusVibeSettings(base_url=f"{sim}/api/v1", api_key=SIM_KEY, workspace_id=SIM_WORKSPACE,
                          requests_per_second=SIM_RATE, limit_store="process")
    service = bootstrap(settings, plusvibe_settings=pv)
    size_pool(service.runtime, "consumers")
    stop = asyncio.Event()
    task = asyncio.create_task(run_loops(service.runtime, stop, kit_loops(service.runtime, consumers=True,
                                                                          relay=False)))
    try:
        yield Writeback(service, stop, task)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)
        await service.runtime.dispose()  # closes the PlusVibe client the bootstrap built


# ---------------------------------------------------------------------------------------------- checks
async def table_state(schema: str) -> dict[str, tuple[int, str]]:
    """Every table of the schema: (rows, sum of a 64-bit hash of each row's text) — any change shows."""
    conn = await asyncpg.connect(raw_dsn())
    try:
        tables = [r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' "
            "ORDER BY table_name", schema)]
        state: dict[str, tuple[int, str]] = {}
        for table in tables:
            row = await conn.fetchrow(f'SELECT count(*) AS n, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)'
                                      f'::text AS h FROM "{schema}"."{table}" t')
            state[table] = (int(row["n"]), str(row["h"]))
        return state
    finally:
        await conn.close()


def changed_tables(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


async def sim_requests(sim: str) -> int:
    async with httpx.AsyncClient(base_url=sim, timeout=30, trust_env=False) as client:
        return len((await client.get("/_sim/requests")).json()["requests"])


async def attempts_by_status(schema: str) -> dict[str, int]:
    conn = await asyncpg.connect(raw_dsn())
    try:
        rows = await conn.fetch(f'SELECT status, count(*) AS n FROM "{schema}".writeback_attempts GROUP BY status')
    finally:
        await conn.close()
    return {r["status"]: int(r["n"]) for r in rows}


async def wait_delivered(schema: str, linked: int, *, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    counts = await attempts_by_status(schema)
    while counts.get("pending", 0) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        counts = await attempts_by_status(schema)
    return counts


# ---------------------------------------------------------------------------------------------- phases
@dataclass
class Setup:
    schema: str
    prefix: str
    sim: str
    leads: list[dict[str, Any]]
    linked: int

    def topic(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def group(self, handler: str) -> str:
        return f"{self.prefix}writeback.{handler}"


def pushed_envelopes(leads: list[dict[str, Any]], campaign: str) -> Iterator[Envelope]:
    at = datetime.now(UTC) + timedelta(seconds=1)  # after the snapshots' update time: the push wins the link
    for lead in leads:
        yield new_envelope(LeadPushed(lead_id=lead["id"], campaign_id=campaign, email=lead["email"], variables={},
                                      pushed_at=at))


async def fill(setup: Setup, runs: list[dict[str, Any]], campaign: str) -> dict[str, Any]:
    """Snapshots + pushes (consumed first), then AuditCompleted in two halves: the first pass, timed; returns
    the first pass's figures and the timestamp between the halves (the window replay starts there)."""
    from bench_plusvibe import enrol_in_simulator

    linked = setup.leads[:setup.linked]
    await enrol_in_simulator(setup.sim, campaign, linked)
    n = len(setup.leads)
    await produce(setup.topic(LEAD_UPSERTED), snapshot_envelopes(setup.leads, runs))
    await produce(setup.topic(LEAD_PUSHED), pushed_envelopes(linked, campaign))
    async with writeback(setup.schema, setup.prefix, setup.sim) as wb:
        await wb.wait_seen(LEAD_UPSERTED, n, timeout_s=120 + n / 100)
        await wb.wait_seen(LEAD_PUSHED, len(linked), timeout_s=60)
    half = n // 2
    await produce(setup.topic(AUDIT_COMPLETED), (audit_completed(x) for x in setup.leads[:half]))
    await asyncio.sleep(0.05)
    mid_ms = int(time.time() * 1000)
    await asyncio.sleep(0.05)
    await produce(setup.topic(AUDIT_COMPLETED), (audit_completed(x) for x in setup.leads[half:]))
    print(f"[replay] produced {n} snapshots, {len(linked)} pushes, {n} AuditCompleted; first pass ...", flush=True)
    async with writeback(setup.schema, setup.prefix, setup.sim) as wb:
        timing = await wb.wait_seen(AUDIT_COMPLETED, n, timeout_s=120 + n / 50)
        stats = wb.consumer(AUDIT_COMPLETED).stats
        attempts = await wait_delivered(setup.schema, len(linked), timeout_s=60 + len(linked))
        out = {**timing.figures("first_pass"), "first_pass_applied": stats.applied,
               "first_pass_fallbacks": stats.batch_fallbacks, "attempts": attempts,
               "first_pass_plusvibe_calls": wb.service.delivery.calls, "mid_ms": mid_ms}
    return out


async def replay(setup: Setup, spec: TopicSpec, handler: str, label: str, *, at_ms: int | None = None
                 ) -> dict[str, Any]:
    """Resets the group (earliest or `at_ms`), replays through a fresh writeback; checks state and PlusVibe."""
    before, sim_before = await table_state(setup.schema), await sim_requests(setup.sim)
    records = await reset_group(setup.group(handler), setup.topic(spec), spec, at_ms=at_ms)
    async with writeback(setup.schema, setup.prefix, setup.sim) as wb:
        timing = await wb.wait_seen(spec, records, timeout_s=120 + records / 100)
        await asyncio.sleep(1.0)  # the delivery worker's polls see nothing to do
        stats = wb.consumer(spec).stats
        calls = wb.service.delivery.calls
    after, sim_after = await table_state(setup.schema), await sim_requests(setup.sim)
    out = {**timing.figures(label), f"{label}_duplicates": stats.duplicates, f"{label}_applied": stats.applied,
           f"{label}_parked": stats.parked, f"{label}_batches": stats.batches,
           f"{label}_changed_tables": changed_tables(before, after),
           f"{label}_plusvibe_requests": sim_after - sim_before, f"{label}_delivery_calls": calls}
    print(f"[replay] {label}: {out}", flush=True)
    return out


def ratio(out: dict[str, Any], label: str, raw: str) -> float | None:
    a, b = out.get(f"{label}_events_per_s"), out.get(f"{raw}_events_per_s")
    return round(a / b, 3) if a and b else None


async def measure(setup: Setup) -> dict[str, Any]:
    n = len(setup.leads)
    out: dict[str, Any] = {}
    out.update((await raw_consume(setup.topic(AUDIT_COMPLETED), AUDIT_COMPLETED, n)).figures("raw_audit"))
    out.update(await replay(setup, AUDIT_COMPLETED, "on_audit_completed", "replay_audit"))
    out["replay_audit_ratio_to_raw"] = ratio(out, "replay_audit", "raw_audit")
    out.update((await raw_consume(setup.topic(LEAD_UPSERTED), LEAD_UPSERTED, n)).figures("raw_snapshot"))
    out.update(await replay(setup, LEAD_UPSERTED, "on_lead_upserted", "replay_snapshot"))
    out["replay_snapshot_ratio_to_raw"] = ratio(out, "replay_snapshot", "raw_snapshot")
    return out


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("replay_events", EVENTS))
    rid = run_id()
    out: dict[str, Any] = {"events": n}
    async with schemas_and_topics(rid, ("writeback",)) as (schemas, prefix):
        with processes(Path(ctx["log_dir"]) / f"replay-{rid}") as procs:
            sim = spawn_simulator(procs, rate=SIM_RATE)
            await wait_http(f"{sim}/_sim/health", procs)
            campaign = simulator_campaigns(procs)["active"]
            leads, runs = snapshot_leads(n, tag=f"{rid}rp", complete=False)
            setup = Setup(schemas["writeback"], prefix, sim, leads, min(LINKED_MAX, max(1, n // 100)))
            for lead in leads[:setup.linked]:
                lead["campaign_id"] = campaign
            out["linked"] = setup.linked
            first = await fill(setup, runs, campaign)
            mid_ms = first.pop("mid_ms")
            out.update(first)
            out.update(await measure(setup))
            out.update(await replay(setup, AUDIT_COMPLETED, "on_audit_completed", "window_audit", at_ms=mid_ms))
            out["window_audit_ratio_to_raw"] = ratio(out, "window_audit", "raw_audit")
    out["state_changes"] = sum(len(out.get(f"{k}_changed_tables", [])) for k in
                               ("replay_audit", "replay_snapshot", "window_audit"))
    out["plusvibe_requests_during_replays"] = sum(out.get(f"{k}_plusvibe_requests", 0) for k in
                                                  ("replay_audit", "replay_snapshot", "window_audit"))
    return out


if __name__ == "__main__":
    run_standalone(run)
