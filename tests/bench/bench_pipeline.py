"""Pipeline: unlinked leads, AuditCompleted published for each (as audits would) → writeback (its own
consumers + relay processes) → WritebackCompleted → leads (its own consumers + relay processes) applies the
variables and `email_generated`. Measured in the leads database: leads/s for a burst of 10,000, and
per-lead latency publish → `wb_applied_at`, for the burst and at two fixed arrival rates (50 leads/s for 60 s, the
latency goal's rate; then 200 leads/s for 30 s, `high_rate_*` in the results), with every process's CPU for each.

Before the services start, the broker gets one unmeasured round of the pipeline's records (bench_ceilings.warm_broker),
so its CPU per lead is that of a JVM whose JIT has compiled the produce and fetch paths, whatever ran before.

Setup inserts the leads directly into the leads schema (the service's ORM tables) with their audit run
linked, and writeback's projection of them (what LeadUpserted would have built)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]
from _common import (
    KAFKA,
    PY,
    Procs,
    loadavg,
    processes,
    profiled_argv,
    raw_dsn,
    run_id,
    run_standalone,
    schemas_and_topics,
    service_env,
    summary_ms,
)
from _fixtures import audit_completed, insert_leads, insert_projection, lead_rows
from _load import settle_generator_heap
from bench_ceilings import warm_broker

from contracts.topics import WRITEBACK_COMPLETED

BURST = 10_000
RATE = 50.0
RATE_SECONDS = 60.0
HIGH_RATE = 200.0  # `--set pipeline_high_rate=0` leaves the second fixed-rate phase out
HIGH_RATE_SECONDS = 30.0
WARMUP = 20
REPLICAS = 1


class Publisher:
    """One idempotent acks=all producer; records each lead's publish time (wall clock, like wb_applied_at)."""

    def __init__(self, topic: str) -> None:
        from aiokafka import AIOKafkaProducer

        from servicekit.messaging.kafka_config import producer_options

        self.topic = topic
        self.producer = AIOKafkaProducer(bootstrap_servers=KAFKA, **producer_options("bench-audits"))
        self.sent_at: dict[uuid.UUID, float] = {}
        self.pending: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        await self.producer.stop()

    async def send(self, lead: dict[str, Any]) -> None:
        from servicekit.testing import envelope_record

        key, value, headers = envelope_record(audit_completed(lead))
        self.sent_at[lead["id"]] = time.time()
        self.pending.append(await self.producer.send(self.topic, value=value, key=key, headers=headers))

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*pending)


async def applied_times(schema: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    conn = await asyncpg.connect(raw_dsn())
    try:
        rows = await conn.fetch(
            f'SELECT id, wb_applied_at FROM "{schema}".leads WHERE id = ANY($1::uuid[]) '
            "AND status = 'email_generated' AND wb_variables IS NOT NULL AND wb_applied_at IS NOT NULL", ids)
    finally:
        await conn.close()
    return {r["id"]: r["wb_applied_at"].timestamp() for r in rows}


async def email_generated(conn: asyncpg.Connection, schema: str) -> int:
    """How many of the schema's leads reached `email_generated` (ix_leads_status: a few ms at 13,000 leads)."""
    return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".leads WHERE status = \'email_generated\''))


async def wait_applied(schema: str, ids: list[uuid.UUID], procs: Procs, *, timeout_s: float, before: int) -> None:
    """Waits until `ids` reached `email_generated`: the schema's count of such leads is `before` (counted before the
    phase was published) plus them. Only this phase's leads change meanwhile (the others are not published yet or
    are done), so the count needs no id list. Until 2026-12-07 every poll matched the 10,000 ids of the burst one by
    one (`id = ANY($1)`, 75 ms of a PostgreSQL backend, 4 times a second, inside the CPU window), and that poll was
    counted as the pipeline's database cost."""
    conn = await asyncpg.connect(raw_dsn())
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if await email_generated(conn, schema) >= before + len(ids):
                return
            procs.check_alive()
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def phase_start_count(schema: str) -> int:
    conn = await asyncpg.connect(raw_dsn())
    try:
        return await email_generated(conn, schema)
    finally:
        await conn.close()


def _infra_cpu() -> dict[str, float]:
    """CPU seconds so far of the shared infrastructure: the Kafka broker (java) and every PostgreSQL process.
    PostgreSQL backends come and go; the services' pooled connections live through the measured window."""
    out = {"kafka-broker": 0.0, "postgresql": 0.0}
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            name = proc.info["name"] or ""
            cmdline = " ".join(proc.info["cmdline"] or [])
            key = ("kafka-broker" if name == "java" and "kafka" in cmdline
                   else "postgresql" if name.startswith("postgres") else None)
            if key:
                t = proc.cpu_times()
                out[key] += t.user + t.system
        except psutil.Error:
            continue
    return out


async def hops(writeback_schema: str, completed_topic: str, sent: dict[uuid.UUID, float],
               applied: dict[uuid.UUID, float]) -> dict[str, dict[str, float]]:
    """Where the latency goes, per lead, from the WritebackCompleted record on its topic (the relays delete what
    they published, so the outbox no longer holds it): publish → claimed in writeback's inbox (`processed_at`)
    → the event built in writeback's transaction (the envelope's `occurred_at`) → sent by writeback's relay (the
    record's timestamp, set by its producer at send) → applied by the leads consumer (`wb_applied_at`)."""
    built: dict[uuid.UUID, tuple[uuid.UUID, float, float]] = {}  # lead → (cause, occurred_at, record timestamp)
    for record in await read_to_end(completed_topic):
        lead = uuid.UUID(record.key.decode())
        if lead in sent and lead in applied:
            envelope = json.loads(record.value)
            built[lead] = (uuid.UUID(envelope["causation_id"]),
                           datetime.fromisoformat(envelope["occurred_at"]).timestamp(), record.timestamp / 1000)
    conn = await asyncpg.connect(raw_dsn())
    try:
        claimed = {r["event_id"]: r["processed_at"].timestamp() for r in await conn.fetch(
            f'SELECT event_id, processed_at FROM "{writeback_schema}".inbox WHERE event_id = ANY($1::uuid[])',
            [cause for cause, _, _ in built.values()])}
    finally:
        await conn.close()
    fetch, consume, relay, apply = [], [], [], []
    for lead, (cause, occurred, relayed) in built.items():
        if cause in claimed:  # the inbox claim: the start of the batch's transaction
            fetch.append(claimed[cause] - sent[lead])
        consume.append(occurred - sent[lead])
        relay.append(relayed - occurred)
        apply.append(applied[lead] - relayed)
    return {"audit_completed_to_writeback_inbox_claim": summary_ms(fetch),
            "audit_completed_to_writeback_commit": summary_ms(consume),
            "writeback_commit_to_relay_send": summary_ms(relay),
            "relay_send_to_leads_applied": summary_ms(apply)}


async def read_to_end(topic: str) -> list[Any]:
    """Every record of `topic` up to its end offsets when called (no group, no commits; at most 60 s)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from servicekit.messaging.kafka_admin import end_offsets, read_until
    from servicekit.testing import topic_partitions

    tps = [TopicPartition(topic, p) for p in await topic_partitions(KAFKA, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        return [r async for r in read_until(consumer, await end_offsets(consumer, tps), timeout_s=60, max_records=5000)]
    finally:
        await consumer.stop()


def cpu_seconds(procs: Procs) -> dict[str, float]:
    out = _infra_cpu()
    for name, popen in procs.popens.items():
        try:
            p = psutil.Process(popen.pid)
            t = p.cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            out[name] = float("nan")
    return out


def rate_cpu(cpu0: dict[str, float], cpu1: dict[str, float], applied: int, window_s: float) -> dict[str, Any]:
    """CPU of every process over the fixed-rate phase (publishing the first lead → the last one applied, plus up
    to one 0.25 s poll): ms per lead, per process and in total, and the cores that kept busy."""
    used = {k: cpu1[k] - cpu0[k] for k in cpu1}
    return {"rate_cpu_ms_per_lead": {k: round(v * 1000 / max(applied, 1), 2) for k, v in used.items()},
            "rate_cpu_ms_per_lead_total": round(sum(used.values()) * 1000 / max(applied, 1), 2),
            "rate_cores_busy": round(sum(used.values()) / max(window_s, 1e-9), 2)}


async def sample_burst(procs: Procs, ctx: dict[str, Any]) -> list[tuple[Path, asyncio.subprocess.Process]]:
    """`--set pipeline_pyspy=SECONDS`: py-spy samples every service process for that long from the burst's start
    (`--nonblocking`, raw stacks for flame graphs, one file per process in the log dir). Sampling costs CPU on the
    same 2 cores: a profiled run's figures are for reading the profile, not for reporting."""
    seconds = int(ctx.get("pipeline_pyspy", 0) or 0)
    sampling = []
    for name, popen in (procs.popens.items() if seconds else ()):
        report = procs.log_dir / f"pyspy-{name}.txt"
        sampler = await asyncio.create_subprocess_exec(
            str(Path(PY).parent / "py-spy"), "record", "-p", str(popen.pid), "-d", str(seconds), "--nonblocking",
            "-f", "raw", "-o", str(report), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        sampling.append((report, sampler))
    return sampling


async def finish_sampling(sampling: list[tuple[Path, asyncio.subprocess.Process]]) -> list[str]:
    for _, sampler in sampling:
        await sampler.wait()
    return [str(report) for report, _ in sampling]


def profiled(name: str, module: str, ctx: dict[str, Any]) -> list[str]:
    """The argv of a service process; under pyinstrument when ctx["profile"] names it (report in the log dir)."""
    return profiled_argv(name, [PY, "-m", module], ctx)


def latencies(sent: dict[uuid.UUID, float], applied: dict[uuid.UUID, float]) -> list[float]:
    return [applied[i] - sent[i] for i in sent if i in applied]


async def fixed_rate(pub: Publisher, leads: list[dict[str, Any]], rate: float, seconds: float,
                     schemas: dict[str, str], procs: Procs, completed_topic: str) -> dict[str, Any]:
    """Publishes `leads` at `rate` leads/s, scheduled on the clock and never waiting for the pipeline; their
    latency publish → applied, every process's CPU over the phase and the hops' latencies (`rate_*` keys)."""
    settle_generator_heap()
    pub.sent_at.clear()
    before = await phase_start_count(schemas["leads"])
    cpu0 = cpu_seconds(procs)
    start = time.monotonic()
    for i, lead in enumerate(leads):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await pub.send(lead)
        if len(pub.pending) >= 50:
            await pub.flush()
    await pub.flush()
    ids = [x["id"] for x in leads]
    await wait_applied(schemas["leads"], ids, procs, timeout_s=180, before=before)
    cpu1, window_s = cpu_seconds(procs), time.monotonic() - start
    applied = await applied_times(schemas["leads"], ids)
    lat = latencies(pub.sent_at, applied)
    return {"rate_leads_per_s": rate, "rate_seconds": seconds, "rate_applied": len(applied),
            "rate_latency": summary_ms(lat),
            # What the latency rides on: at a fixed rate the batches hold a few records, so a lead costs far more
            # than in the burst; near 2 busy cores every hop queues for CPU.
            **rate_cpu(cpu0, cpu1, len(applied), window_s),
            "rate_hops": await hops(schemas["writeback"], completed_topic, pub.sent_at, applied)}


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    burst = int(ctx.get("pipeline_burst", BURST))
    rate_s = float(ctx.get("pipeline_rate_seconds", RATE_SECONDS))
    rate = float(ctx.get("pipeline_rate", RATE))  # leads/s of the fixed-arrival phase
    high_rate = float(ctx.get("pipeline_high_rate", HIGH_RATE))  # leads/s of the second one (0: none)
    high_rate_s = float(ctx.get("pipeline_high_rate_seconds", HIGH_RATE_SECONDS))
    rid = run_id()
    out: dict[str, Any] = {}
    async with schemas_and_topics(rid, ("leads", "writeback")) as (schemas, prefix):
        groups: dict[str, list[dict[str, Any]]] = {}

        async def prepare(tag: str, n: int) -> None:
            leads, runs = lead_rows(n, tag=f"{rid}{tag}", status="audit_queued", audited=True)
            await insert_leads(schemas["leads"], leads, runs)
            await insert_projection(schemas["writeback"], leads, campaign_id=None)
            groups[tag] = leads

        for tag, n in (("warm", WARMUP), ("burst", burst), ("rate", int(rate * rate_s))):
            await prepare(tag, n)
        # `--set pipeline_env=LEADS_CONSUMER_BATCH_TIMEOUT_MS=20,WRITEBACK_...=20` tries a setting in both services.
        extra = dict(kv.split("=", 1) for kv in str(ctx.get("pipeline_env", "")).split(",") if "=" in kv)
        env = service_env(prefix=prefix, schemas=schemas, extra=extra)
        out["service_env_overrides"] = extra
        topic = f"{prefix}audits.audit-completed.v1"
        completed = f"{prefix}{WRITEBACK_COMPLETED.name}"  # the hops are read from its records
        # The broker's JIT warmed before the CPU window, whatever ran before: one unmeasured round of the pipeline's
        # records, as bench_ceilings warms up (on topics `<prefix>warm.*`, deleted with this run's topics).
        out["broker_warmup_records"] = await warm_broker(f"{prefix}warm.")
        with processes(Path(ctx["log_dir"]) / f"pipeline-{rid}") as procs:
            if ctx.get("profile"):
                procs.stop_timeout_s = 120.0
            replicas = int(ctx.get("pipeline_replicas", REPLICAS))  # consumer processes per service
            for svc in ("leads", "writeback"):
                for role in ("consumers", "relay"):
                    for n in range(replicas if role == "consumers" else 1):
                        name = f"{svc}-{role}" + (f"-{n + 1}" if n else "")
                        procs.spawn(name, profiled(name, f"{svc}.entrypoints.{role}", ctx), env)
            async with Publisher(topic) as pub:
                for lead in groups["warm"]:
                    await pub.send(lead)
                await pub.flush()
                warm_ids = [x["id"] for x in groups["warm"]]
                await wait_applied(schemas["leads"], warm_ids, procs, timeout_s=120, before=0)
                warm = await applied_times(schemas["leads"], warm_ids)
                if len(warm) < WARMUP:
                    raise RuntimeError(f"warm-up: {len(warm)}/{WARMUP} applied\n" + procs.tail("leads-consumers")
                                       + procs.tail("writeback-consumers"))
                # Burst: all at once. The publisher's own heap (fixture rows of every lead) leaves the GC first,
                # so a full collection here cannot delay publishing after the clock was read (see _load).
                settle_generator_heap()
                pub.sent_at.clear()
                before = await phase_start_count(schemas["leads"])
                sampling = await sample_burst(procs, ctx)
                cpu0 = cpu_seconds(procs)
                load0 = loadavg()
                t0 = time.time()
                for lead in groups["burst"]:
                    await pub.send(lead)
                await pub.flush()
                published_s = time.time() - t0
                ids = [x["id"] for x in groups["burst"]]
                await wait_applied(schemas["leads"], ids, procs, timeout_s=360, before=before)  # bounded run time
                cpu1 = cpu_seconds(procs)
                applied = await applied_times(schemas["leads"], ids)
                out["burst_profiles"] = await finish_sampling(sampling)
                done = max(applied.values()) if applied else time.time()
                lat = latencies(pub.sent_at, applied)
                out.update({
                    "burst_leads": burst, "burst_applied": len(applied),
                    "burst_publish_s": round(published_s, 2),
                    "burst_elapsed_s": round(done - t0, 2),
                    "pipeline_leads_per_s": round(len(applied) / (done - t0), 1),
                    "burst_latency": summary_ms(lat),
                    "burst_cpu_s": {k: round(cpu1[k] - cpu0[k], 1) for k in cpu1},
                    "burst_cpu_ms_per_lead": {k: round((cpu1[k] - cpu0[k]) * 1000 / max(len(applied), 1), 2)
                                              for k in cpu1},
                    # Everything the pipeline ran on (services, broker, database) against what 2 cores offer.
                    "burst_cpu_ms_per_lead_total": round(sum(cpu1[k] - cpu0[k] for k in cpu1) * 1000
                                                         / max(len(applied), 1), 2),
                    "burst_cores_busy": round(sum(cpu1[k] - cpu0[k] for k in cpu1) / max(done - t0, 1e-9), 2),
                    "burst_loadavg_before": load0, "burst_loadavg_after": loadavg(),
                })
                out.update(await fixed_rate(pub, groups["rate"], rate, rate_s, schemas, procs, completed))
                if high_rate > 0:
                    # Its leads are inserted only now, so the burst and the 50/s phase run on the tables they
                    # always ran on (outside every CPU window).
                    await prepare("high_rate", int(high_rate * high_rate_s))
                    high = await fixed_rate(pub, groups["high_rate"], high_rate, high_rate_s, schemas, procs,
                                              completed)
                    out.update({f"high_{key}": value for key, value in high.items()})
                rss = {}
                for name, popen in procs.popens.items():
                    try:
                        rss[name] = round(psutil.Process(popen.pid).memory_info().rss / 2**20)
                    except psutil.Error:
                        rss[name] = -1
                out["rss_mb"] = rss
            log_dir = procs.log_dir
        # Batches rolled back (e.g. a deadlock) and replayed record by record, from the consumers' logs.
        out["batch_fallbacks"] = {svc: sum(log.read_text(errors="replace").count("replaying it record by record")
                                           for log in log_dir.glob(f"{svc}-consumers*.log"))
                                  for svc in ("leads", "writeback")}
        out["consumer_processes_per_service"] = replicas
    ceiling = ctx.get("ceiling_leads_per_s")
    if ctx.get("profiles"):
        out["profiles"] = ctx["profiles"]
    if ceiling:
        out["ratio_to_ceiling"] = round(out["pipeline_leads_per_s"] / ceiling, 3)
    return out


if __name__ == "__main__":
    run_standalone(run)
