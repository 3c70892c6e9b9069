"""Ceilings on the same broker and database, each doing the work bench_pipeline's burst does per lead, in the
shape the services do it:

- broker: one lead's records of the pipeline (built with the contracts as the services build them), produced to
  topics with the registry's partitions by producers configured like the outbox relay's (acks=all, idempotent,
  no linger, the relay's batch of 500 in flight, then awaited), consumed in fetches of up to 500 records with
  an offset commit per fetch; records/s.
- database: transactions shaped like a consumer batch (servicekit.messaging.consumer + uow): B records per transaction as
  multi-row statements (inbox claim, lock of the effect rows, effect update, outbox insert + NOTIFY) on as many
  connections as the pipeline's busy subscribers, while relays claim and delete the outbox rows on their
  own connections (servicekit.messaging.relay); records/s and tx/s.

Each ceiling runs one unmeasured warm-up round first (which also warms the broker's JIT), then measured rounds
until it holds still: at least `ceiling_reps` (3), and more (up to `ceiling_max_reps`, 8) while the spread
((max - min) / median) of the last `ceiling_reps` rounds is above `ceiling_stable_spread` (0.10). The median, min,
max and spread of those last rounds are reported with every round measured and whether the bound was met; the
ceiling in leads/s derives from the medians with the cost model below.

    .venv/bin/python tests/bench/bench_ceilings.py ceiling_reps=5 ceiling_batch=200
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from _common import KAFKA, delete_topics, raw_dsn, run_id, run_standalone
from _fixtures import audit_completed, lead_rows, ready_variables

from contracts.envelope import Envelope
from contracts.topics import TOPIC_BY_EVENT_TYPE, TopicSpec
from servicekit.process.db import prefer_lz4_toast_compression

# The cost model: what one lead costs in bench_pipeline's burst (an unlinked `audit_queued` lead, AuditCompleted
# published by the bench; the leads and writeback consumers and relays of services/*/bootstrap.py).
#   Produced, 6 records: AuditCompleted (the bench), WritebackCompleted (writeback's relay), LeadStatusChanged and
#   LeadUpserted twice (leads' relay: `audit_complete`, then `email_generated`; leads/adapters/lead_changes.py).
#   Consumed, 5 records: AuditCompleted by leads and by writeback, WritebackCompleted by leads, both LeadUpserted by
#   writeback (nothing consumes LeadStatusChanged in the bench).
# The broker ceiling produces and consumes each of the 6 records once (one consume more per lead than the
# pipeline, of a LeadStatusChanged instead of a second AuditCompleted).
BROKER_RECORDS_PER_LEAD = 6
# The 5 consumed records are 5 consumer-batch records in the database: 5 inbox rows per lead, and 5 outbox rows
# (WritebackCompleted + leads' 4), each later claimed and deleted by a relay. A ceiling record is one inbox
# row, one locked and updated effect row and one outbox row; the pipeline's records also read runs, insert history,
# email and attempt rows and update projections (~10 effect rows per lead against the ceiling's 5), so this is the
# ceiling of the statement shape, not of the pipeline's whole write set.
DB_RECORDS_PER_LEAD = 5

REPS = 3
MAX_REPS = 8
STABLE_SPREAD = 0.10
BATCH = 500  # the consumers' `consumer_max_records` and the relay's `batch_size`
BROKER_LEADS = 10_000  # per round: the records of bench_pipeline's burst
PRODUCERS = 3  # the pipeline's: the bench's publisher and one relay per service
DB_SECONDS = 5.0
DB_WARMUP_S = 2.0
# The pipeline's subscribers with work in the burst, each one batch transaction at a time: leads' on_audit_completed
# and on_writeback_completed, writeback's on_audit_completed and on_lead_upserted.
BUSY_SUBSCRIBERS = 4
RELAYS = 2  # one per service
EFFECT_ROWS = 10_000  # the leads of bench_pipeline's burst
RELAY_POLL_S = 0.05  # servicekit.messaging.relay.OutboxRelay.poll_interval_s
CHANNEL = "outbox_ceiling"

Record = tuple[str, bytes, list[tuple[str, bytes]]]  # topic, value, headers; the key is the lead's id


def stats(values: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {"median": round(median), "min": round(min(values)), "max": round(max(values)),
            "spread": round((max(values) - min(values)) / median, 3), "reps": [round(v) for v in values]}


@dataclass(frozen=True)
class Repeat:
    """How many rounds a ceiling measures: at least `reps`, then more until the last `reps` rounds' spread is within
    `stable_spread`, `max_reps` at most."""

    reps: int = REPS
    max_reps: int = MAX_REPS
    stable_spread: float = STABLE_SPREAD


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


async def until_stable(measure: Callable[[], Awaitable[dict[str, float]]], figure: str, repeat: Repeat
                       ) -> list[dict[str, float]]:
    """Rounds of `measure` until the last `repeat.reps` agree on `figure` within the bound (or `max_reps` ran out);
    returns every round, in order (the caller reports the last `reps`, and all)."""
    rounds: list[dict[str, float]] = []
    while len(rounds) < max(repeat.reps, 1):
        rounds.append(await measure())
    while spread([r[figure] for r in rounds[-repeat.reps:]]) > repeat.stable_spread and len(rounds) < repeat.max_reps:
        rounds.append(await measure())
    return rounds


def held(rounds: list[dict[str, float]], figure: str, repeat: Repeat) -> dict[str, Any]:
    """The ceiling's figure over its last `reps` rounds, every round measured, and whether it held still."""
    last = [r[figure] for r in rounds[-repeat.reps:]]
    return {**stats(last), "all_rounds": [round(r[figure]) for r in rounds],
            "stable": spread(last) <= repeat.stable_spread}


# ---------------------------------------------------------------------------------------------- records
def pipeline_envelopes() -> list[Envelope]:
    """One lead's records in bench_pipeline's burst, in the order they are published (BROKER_RECORDS_PER_LEAD)."""
    from contracts.leads import LeadStatusChanged, LeadUpserted
    from contracts.status import LeadStatus
    from contracts.writeback import WritebackCompleted
    from leads.adapters.orm import AuditRunRow, LeadRow
    from leads.adapters.snapshot import lead_snapshot
    from leads.domain.transitions import ACTOR_AUDITS, ACTOR_WRITEBACK, TransitionReason
    from servicekit.messaging.events import new_envelope

    variables = ready_variables(steps=1)  # writeback's payload of an unlinked lead: 1 step
    leads, runs = lead_rows(1, tag="ceiling", status="email_generated", audited=True, variables=variables)
    done, run = {**leads[0], "version": 3}, AuditRunRow(**runs[0])
    audited = {**done, "status": "audit_complete", "version": 2, "wb_variables": None, "wb_audit_run_id": None,
               "wb_delivered": None, "wb_applied_at": None}
    now = datetime.now(UTC)
    audit = audit_completed(done)
    written = new_envelope(WritebackCompleted(
        lead_id=done["id"], audit_run_id=done["audit_run_id"], audit_requested_at=done["audit_requested_at"],
        variables=variables, delivered=False, steps=1, completed_at=now), causation=audit)

    def moved(frm: LeadStatus, to: LeadStatus, actor: str, reason: TransitionReason, lead: dict[str, Any],
              cause: Envelope) -> Envelope:
        return new_envelope(LeadStatusChanged(lead_id=lead["id"], from_status=frm, to_status=to, actor=actor,
                                              reason=reason.value, version=lead["version"], changed_at=now),
                            causation=cause)

    def upserted(lead: dict[str, Any], cause: Envelope) -> Envelope:
        return new_envelope(LeadUpserted(lead_id=lead["id"], lead=lead_snapshot(LeadRow(**lead), run)), causation=cause)

    return [audit, written,
            moved(LeadStatus.AUDIT_QUEUED, LeadStatus.AUDIT_COMPLETE, ACTOR_AUDITS, TransitionReason.AUDIT_COMPLETED,
                  audited, audit),
            upserted(audited, audit),
            moved(LeadStatus.AUDIT_COMPLETE, LeadStatus.EMAIL_GENERATED, ACTOR_WRITEBACK,
                  TransitionReason.WRITEBACK_COMPLETED, done, written),
            upserted(done, written)]


def record_sizes(envelopes: list[Envelope]) -> list[list[Any]]:
    from servicekit.testing import envelope_record

    return [[e.event_type, len(envelope_record(e)[1])] for e in envelopes]


# ---------------------------------------------------------------------------------------------- broker
@dataclass
class BrokerClients:
    producers: list[Any]
    consumer: Any
    records: list[Record]


@contextlib.asynccontextmanager
async def broker_clients(prefix: str, envelopes: list[Envelope]) -> AsyncIterator[BrokerClients]:
    """Topics `<prefix><registry name>` of the records' event types (created as the services' are; deleting them
    is the caller's), relay-like producers and one consumer assigned every partition."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from outreach_ops.topic_admin import ensure_topics
    from servicekit.messaging.kafka_config import producer_options
    from servicekit.testing import envelope_record

    specs: dict[str, TopicSpec] = {e.event_type: TOPIC_BY_EVENT_TYPE[e.event_type] for e in envelopes}
    await ensure_topics(KAFKA, specs.values(), prefix=prefix, include_dlq=False)
    records: list[Record] = []
    for e in envelopes:
        _, value, headers = envelope_record(e)
        records.append((f"{prefix}{specs[e.event_type].name}", value, headers))
    producers = [AIOKafkaProducer(bootstrap_servers=KAFKA, **producer_options(f"ceiling-{i}"))
                 for i in range(PRODUCERS)]
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=f"{prefix}ceiling", enable_auto_commit=False,
                                auto_offset_reset="earliest")
    for client in (*producers, consumer):
        await client.start()
    try:
        await asyncio.sleep(1.0)  # metadata of the new topics
        consumer.assign([TopicPartition(f"{prefix}{s.name}", p) for s in specs.values() for p in range(s.partitions)])
        yield BrokerClients(producers, consumer, records)
    finally:
        for client in (*producers, consumer):
            await client.stop()


async def produce(producer: Any, records: list[Record], leads: range) -> None:
    """Each lead's records, keyed by a new lead id; awaited every BATCH records, as the relay awaits its batch."""
    pending: list[asyncio.Future[Any]] = []
    for _ in leads:
        key = str(uuid.uuid4()).encode()
        for topic, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
        if len(pending) >= BATCH:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def broker_round(clients: BrokerClients, leads: int) -> tuple[float, float]:
    """(produced records/s, produced-and-consumed records/s) of `leads` leads' records."""
    total = leads * len(clients.records)

    async def consume() -> None:
        received = 0
        while received < total:
            batch = await clients.consumer.getmany(timeout_ms=100, max_records=BATCH)
            if batch:
                received += sum(len(records) for records in batch.values())
                await clients.consumer.commit()  # the kit commits after every batch

    started = time.perf_counter()
    consuming = asyncio.create_task(consume())
    n = len(clients.producers)
    try:
        await asyncio.gather(*(produce(p, clients.records, range(i, leads, n))
                               for i, p in enumerate(clients.producers)))
        produced_s = time.perf_counter() - started
        await asyncio.wait_for(consuming, 120)
    finally:
        consuming.cancel()  # a no-op once it is done
    return total / produced_s, total / (time.perf_counter() - started)


async def warm_broker(prefix: str, leads: int = BROKER_LEADS) -> int:
    """One unmeasured round of the pipeline's records (the broker's JIT compiles the produce and fetch paths);
    returns the records. Its topics start with `prefix`: the caller deletes them."""
    envelopes = pipeline_envelopes()
    async with broker_clients(prefix, envelopes) as clients:
        await broker_round(clients, leads)
    return leads * len(envelopes)


async def broker_ceiling(leads: int, repeat: Repeat) -> dict[str, Any]:
    prefix = f"b{run_id()}."
    envelopes = pipeline_envelopes()
    try:
        async with broker_clients(prefix, envelopes) as clients:
            await broker_round(clients, leads)  # warm-up

            async def measure() -> dict[str, float]:
                produced, both = await broker_round(clients, leads)
                return {"produced": produced, "records": both}

            rounds = await until_stable(measure, "records", repeat)
    finally:
        await delete_topics(prefix)
    return {"broker_record_bytes": record_sizes(envelopes), "broker_records_per_round": leads * len(envelopes),
            "broker_produce_records_per_s": held(rounds, "produced", repeat),
            "broker_records_per_s": held(rounds, "records", repeat)}


# ---------------------------------------------------------------------------------------------- database
# Tables shaped like servicekit.process.tables (inbox, outbox) and an effect table keyed by uuid with a jsonb payload.
DDL = """
CREATE TABLE inbox (consumer_group varchar(200) NOT NULL, event_id uuid NOT NULL, event_type varchar(100) NOT NULL,
    processed_at timestamptz NOT NULL, payload_sha256 varchar(64), CONSTRAINT pk_inbox PRIMARY KEY (consumer_group, event_id));
CREATE TABLE outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, event_type varchar(100) NOT NULL,
    topic varchar(255) NOT NULL, msg_key varchar(255), headers jsonb NOT NULL, payload bytea NOT NULL,
    created_at timestamptz NOT NULL, sent_at timestamptz);
CREATE INDEX ix_outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE TABLE effect (id uuid PRIMARY KEY, version int NOT NULL, payload jsonb NOT NULL, updated_at timestamptz NOT NULL);
"""
# unnest()-based multi-row statements, as servicekit.process.bulk issues them (one fixed statement per table, each column one
# array parameter: prepared once per connection, one round trip per statement), not executemany (a round trip's
# worth of protocol per row).
INBOX = ("INSERT INTO inbox (consumer_group, event_id, event_type, processed_at, payload_sha256) SELECT * FROM "
         "unnest($1::varchar[], $2::uuid[], $3::varchar[], $4::timestamptz[], $5::varchar[]) "
         "ON CONFLICT (consumer_group, event_id) DO NOTHING RETURNING event_id")
LOCK = "SELECT id FROM effect WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
EFFECT = ("UPDATE effect AS t SET payload = v.payload, version = t.version + 1, updated_at = v.updated_at "
          "FROM unnest($1::uuid[], $2::jsonb[], $3::timestamptz[]) AS v(id, payload, updated_at) WHERE t.id = v.id")
OUTBOX = ("WITH ins AS (INSERT INTO outbox (event_id, event_type, topic, msg_key, headers, payload, created_at) "
          "SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[], $6::bytea[], "
          "$7::timestamptz[]) RETURNING 1) SELECT pg_notify($8, '') WHERE EXISTS (SELECT 1 FROM ins)")
# servicekit.messaging.relay's claim with its default (published rows deleted, OUTBOX_KEEP_SENT_S=0): the claim is
# the delete, committed once the records are acknowledged.
RELAY_TAKE = ("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 "
              "FOR UPDATE SKIP LOCKED) RETURNING id, topic, msg_key, headers, payload")


@dataclass
class BatchShape:
    """The columns of one batch that are the same in every batch: record i is the pipeline's i-th consumed record
    (inbox) and writes its i-th published record (outbox), cyclically."""

    inbox_types: list[str]
    digests: list[str]
    outbox_types: list[str]
    topics: list[str]
    headers: list[str]
    payloads: list[bytes]
    effect_payloads: list[str]


def batch_shape(envelopes: list[Envelope], batch: int) -> BatchShape:
    from servicekit.testing import envelope_record

    audit, *published = envelopes
    consumed = [audit, audit, published[0], published[2], published[4]]  # DB_RECORDS_PER_LEAD
    inbox = [consumed[i % len(consumed)] for i in range(batch)]
    outbox = [published[i % len(published)] for i in range(batch)]
    values = {id(e): envelope_record(e) for e in envelopes}
    variables = json.dumps(ready_variables(steps=1))  # what the leads row (wb_variables) and writeback's attempt hold
    return BatchShape(
        inbox_types=[e.event_type for e in inbox],
        digests=[hashlib.sha256(values[id(e)][1]).hexdigest() for e in inbox],
        outbox_types=[e.event_type for e in outbox],
        topics=[TOPIC_BY_EVENT_TYPE[e.event_type].name for e in outbox],
        headers=[json.dumps({k: v.decode() for k, v in values[id(e)][2]}) for e in outbox],
        payloads=[values[id(e)][1] for e in outbox],
        effect_payloads=[variables] * batch)


@dataclass
class Counts:
    records: int = 0
    transactions: int = 0
    relayed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def consumer_batches(conn: Any, shape: BatchShape, group: str, keys: list[uuid.UUID], stop_at: float,
                           counts: Counts) -> None:
    """Batch transactions until `stop_at`: inbox claim, lock, effect update, outbox insert + NOTIFY, commit."""
    batch = len(shape.inbox_types)
    groups = [group] * batch
    ring = itertools.cycle(keys)
    while time.perf_counter() < stop_at:
        now = [datetime.now(UTC)] * batch
        ids = sorted(next(ring) for _ in range(batch))  # sorted, as the consumers lock their rows
        async with conn.transaction():
            await conn.fetch(INBOX, groups, [uuid.uuid4() for _ in ids], shape.inbox_types, now, shape.digests)
            await conn.fetch(LOCK, ids)
            await conn.execute(EFFECT, ids, shape.effect_payloads, now)
            await conn.fetch(OUTBOX, [uuid.uuid4() for _ in ids], shape.outbox_types, shape.topics,
                             [str(i) for i in ids], shape.headers, shape.payloads, now, CHANNEL)
        counts.records += batch
        counts.transactions += 1


async def relay(conn: Any, batch: int, counts: Counts) -> None:
    """servicekit.messaging.relay.OutboxRelay.publish_once without the produce: claim (delete) a batch of unsent rows;
    woken by the NOTIFY of a commit or the poll tick when a batch was not full."""
    woken = asyncio.Event()
    await conn.add_listener(CHANNEL, lambda *_: woken.set())
    while not counts.stop.is_set():
        async with conn.transaction():
            rows = await conn.fetch(RELAY_TAKE, batch)
        counts.relayed += len(rows)
        if len(rows) < batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), RELAY_POLL_S)
            woken.clear()


async def create_tables(admin: Any, schema: str, keys: list[uuid.UUID], payload: str) -> None:
    await admin.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"; {DDL}')
    await admin.execute("INSERT INTO effect SELECT id, 1, $2::jsonb, now() FROM unnest($1::uuid[]) AS id", keys, payload)
    await admin.execute("VACUUM ANALYZE effect")  # planner statistics before the round, not from autovacuum during it


async def load(pool: Any, shape: BatchShape, keys: list[list[uuid.UUID]], seconds: float) -> dict[str, float]:
    """One consumer-batch loop per key slice (its own connection) for `seconds`, the relays beside them."""
    counts = Counts()
    batch = len(shape.inbox_types)

    async def consumer(n: int, stop_at: float) -> None:
        async with pool.acquire() as conn:
            await consumer_batches(conn, shape, f"ceiling.consumer-{n}", keys[n], stop_at, counts)

    async def relays() -> None:
        async with contextlib.AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(pool.acquire()) for _ in range(RELAYS)]
            await asyncio.gather(*(relay(conn, batch, counts) for conn in conns))

    relaying = asyncio.create_task(relays())
    try:
        started = time.perf_counter()
        await asyncio.gather(*(consumer(n, started + seconds) for n in range(len(keys))))
        elapsed = time.perf_counter() - started
    finally:
        counts.stop.set()
        await relaying
    return {"records": counts.records / elapsed, "tx": counts.transactions / elapsed,
            "relayed": counts.relayed / elapsed}


async def db_round(shape: BatchShape, seconds: float, connections: int) -> dict[str, float]:
    """One round in a fresh schema, so every round starts from the same tables: records/s, tx/s, relayed rows/s.
    Each connection updates its own slice of the effect rows (no lock waits between them)."""
    import asyncpg

    schema = f"bench_{run_id()}_ceiling"
    per_conn = max(len(shape.inbox_types), EFFECT_ROWS // connections)
    keys = [[uuid.uuid4() for _ in range(per_conn)] for _ in range(connections)]
    admin = await asyncpg.connect(raw_dsn())
    try:
        await create_tables(admin, schema, [k for ks in keys for k in ks], shape.effect_payloads[0])
        # Large values compressed as the services' connections compress them (servicekit.process.db), on every
        # acquire: the pool's RESET ALL on release would undo a SET made once per connection.
        pool = await asyncpg.create_pool(raw_dsn(), min_size=connections + RELAYS, max_size=connections + RELAYS,
                                         server_settings={"search_path": schema}, setup=prefer_lz4_toast_compression)
        try:
            return await load(pool, shape, keys, seconds)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def db_ceiling(batch: int, seconds: float, connections: int, repeat: Repeat) -> dict[str, Any]:
    shape = batch_shape(pipeline_envelopes(), batch)
    await db_round(shape, DB_WARMUP_S, connections)  # warm-up
    rounds = await until_stable(lambda: db_round(shape, seconds, connections), "records", repeat)
    return {"db_batch": batch, "db_connections": connections, "db_relays": RELAYS, "db_seconds": seconds,
            "db_records_per_s": held(rounds, "records", repeat), "db_tx_per_s": held(rounds, "tx", repeat),
            "db_relayed_rows_per_s": held(rounds, "relayed", repeat)}


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    repeat = Repeat(int(ctx.get("ceiling_reps", REPS)), int(ctx.get("ceiling_max_reps", MAX_REPS)),
                    float(ctx.get("ceiling_stable_spread", STABLE_SPREAD)))
    # As many database connections as the pipeline's busy subscribers (times its consumer processes per service).
    connections = int(ctx.get("ceiling_db_connections", BUSY_SUBSCRIBERS * int(ctx.get("pipeline_replicas", 1))))
    out: dict[str, Any] = {"ceiling_reps": repeat.reps, "ceiling_max_reps": repeat.max_reps,
                           "ceiling_stable_spread": repeat.stable_spread,
                           "broker_records_per_lead": BROKER_RECORDS_PER_LEAD,
                           "db_records_per_lead": DB_RECORDS_PER_LEAD}
    out.update(await broker_ceiling(int(ctx.get("ceiling_broker_leads", BROKER_LEADS)), repeat))
    out.update(await db_ceiling(int(ctx.get("ceiling_batch", BATCH)), float(ctx.get("ceiling_db_seconds", DB_SECONDS)),
                                connections, repeat))
    broker = out["broker_records_per_s"]["median"] / BROKER_RECORDS_PER_LEAD
    db = out["db_records_per_s"]["median"] / DB_RECORDS_PER_LEAD
    out.update({"ceiling_broker_leads_per_s": round(broker), "ceiling_db_leads_per_s": round(db),
                "ceiling_leads_per_s": round(min(broker, db)), "ceiling_bound": "broker" if broker < db else "database"})
    return out


if __name__ == "__main__":
    run_standalone(run)
