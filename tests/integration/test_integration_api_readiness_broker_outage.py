"""Readiness that fits the outbox (issue 18, item 5), on a real broker that really goes away.

A private broker (never the shared one) is stopped under a running leads API with its relay:

- the API keeps answering writes (201): each lands in the outbox in the same transaction as the lead;
- its `/health/ready` stays 200, `"status": "degraded"` (the database gates, the broker is only reported),
  so its pods stay in their Service;
- a worker's readiness (the same checks, the broker gating: servicekit.process.worker_health) is 503 meanwhile;
- the outbox holds the unsent rows; once the broker is back on the same state dir the relay — never
  restarted — publishes every one of them, and a plain consumer finds each lead's LeadUpserted.

And a relay stopped DURING the outage (SIGTERM in a rollout) ends within a bound instead of waiting for the
broker forever; the rows it had claimed stay unsent and the next relay publishes them, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka_private_broker import PrivateBroker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.topics import ALL_TOPICS, LEAD_UPSERTED
from outreach_ops.topic_admin import ensure_topics
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.events import decode
from servicekit.process.readiness import ReadinessCheck, close_checks, readiness
from servicekit.process.runtime import ServiceRuntime, run_relay_until_stopped
from servicekit.process.tables import outbox
from servicekit.process.worker_health import readiness_checks
from servicekit.testing import Database
from servicekit.web.auth import hash_key

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

API_KEY = "outage-suite-key"
LEADS_DURING_OUTAGE = 12
# aiokafka's idempotent producer never expires a batch: the batch the relay claimed when the broker went away
# waits for it. Holding the outage past the producer's request timeout (30 s, kafka_config.producer_options)
# shows that no timeout turns into a lost row or a dead relay.
OUTAGE_HOLD_S = 35.0
# A write must not wait on the broker: each is one database transaction (generous for a loaded CI machine).
WRITE_BOUND_S = 5.0
READINESS_NOTICE_BOUND_S = 20.0
CATCH_UP_BOUND_S = 90.0
# run_relay_until_stopped: up to 10 s for the relay loop, then up to 10 s for the producer (relay.stop_producer).
RELAY_STOP_BOUND_S = 30.0
OK = (200, {"status": "ok", "checks": {"database": "ok", "kafka": "ok"}})


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """One private broker for the module (formatting and starting one costs ~15 s); stopped at its end."""
    broker = PrivateBroker(tmp_path_factory.mktemp("kafka-outage"))
    try:
        yield broker
    finally:
        broker.stop()  # idempotent: "not running" when a test left it stopped


@pytest.fixture
def private_broker(module_broker: PrivateBroker) -> PrivateBroker:
    """The module's broker, running: started when a test before left it stopped (a no-op when it runs)."""
    module_broker.start()
    return module_broker


@dataclass
class Leads:
    """The leads API under test, through ASGI, with its lifespan running."""

    runtime: ServiceRuntime[Any]
    client: httpx.AsyncClient
    topic: str  # its LeadUpserted topic

    @property
    def engine(self) -> AsyncEngine:
        return self.runtime.engine

    async def create(self, n: int) -> tuple[uuid.UUID, float]:
        """(lead id, seconds the 201 took)."""
        tag = uuid.uuid4().hex[:8]
        started = time.monotonic()
        r = await self.client.post("/api/leads", json={
            "companyName": f"Outage {n}", "domain": f"outage-{tag}.test",
            "contact": {"firstName": "Ada", "lastName": f"N{n}", "email": f"ada+{tag}@outage-{tag}.test"}})
        elapsed = time.monotonic() - started
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["id"]), elapsed

    async def ready(self) -> tuple[int, dict[str, Any]]:
        r = await self.client.get("/health/ready")
        return r.status_code, r.json()


@contextlib.asynccontextmanager
async def leads_api(broker: PrivateBroker, db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Leads]:
    from leads.bootstrap import bootstrap as leads_bootstrap
    from leads.entrypoints.http import create_app as leads_app
    from leads.settings import LeadsSettings

    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                 "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"):
        monkeypatch.delenv(name, raising=False)  # PLAINTEXT, whatever the environment says
    prefix = f"o{uuid.uuid4().hex[:10]}."  # the private broker's topics go with its tmp dir
    await ensure_topics(broker.bootstrap, ALL_TOPICS, prefix=prefix)
    service = leads_bootstrap(
        LeadsSettings(database_url=db.url, db_schema=db.schema, kafka_bootstrap_servers=broker.bootstrap,
                      kafka_topic_prefix=prefix, log_json=False, rate_limit_per_s=0,
                      api_keys_json=json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["*"]}])),
        plusvibe_settings=PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="", workspace_id=""))
    app = leads_app(service=service)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://leads", headers={"X-API-Key": API_KEY}
        ) as client:
            yield Leads(service.runtime, client, f"{prefix}{LEAD_UPSERTED.name}")
    finally:
        await service.runtime.dispose()


@contextlib.asynccontextmanager
async def relay_running(runtime: ServiceRuntime[Any]) -> AsyncIterator[asyncio.Task[None]]:
    """The service's relay as a worker runs it; stopped (bounded) on exit, and it must not have failed."""
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay_until_stopped(runtime, stop))
    try:
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(relay, return_exceptions=True), RELAY_STOP_BOUND_S)
    assert relay.exception() is None, relay.exception()


def assert_alive(relay: asyncio.Task[None]) -> None:
    if relay.done():
        raise AssertionError(f"the relay ended during the outage: {relay.exception()!r}")


async def wait_for(what: str, condition: Callable[[], Awaitable[bool]], bound_s: float,
                   *, alive: Callable[[], None] = lambda: None) -> float:
    """Seconds until `condition()` held; fails naming `what` after `bound_s`. `alive()` asserts between tries."""
    started = time.monotonic()
    while True:
        alive()
        if await condition():
            return time.monotonic() - started
        if time.monotonic() - started > bound_s:
            raise AssertionError(f"{what}: not within {bound_s:.0f} s")
        await asyncio.sleep(0.25)


async def unsent_lead_upserts(engine: AsyncEngine) -> dict[uuid.UUID, uuid.UUID]:
    """event id → lead id of the LeadUpserted rows the relay has not published yet."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.event_id, outbox.c.msg_key)
                                   .where(outbox.c.sent_at.is_(None), outbox.c.event_type == "LeadUpserted"))).all()
    return {row.event_id: uuid.UUID(row.msg_key) for row in rows}


async def nothing_unsent(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        unsent = (await conn.execute(select(func.count()).select_from(outbox)
                                     .where(outbox.c.sent_at.is_(None)))).scalar_one()
    return bool(unsent == 0)


async def claimed_by_a_relay(engine: AsyncEngine, event_id: uuid.UUID) -> bool:
    """True while a relay's open transaction holds the row (FOR UPDATE): SKIP LOCKED then passes it over."""
    async with engine.begin() as conn:
        free = (await conn.execute(select(outbox.c.id).where(outbox.c.event_id == event_id)
                                   .with_for_update(skip_locked=True))).first()
    return free is None


async def lead_upserts_on_topic(bootstrap: str, topic: str, wanted: set[uuid.UUID],
                                bound_s: float = 30.0) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, int]]:
    """Reads `topic` from the earliest offset with a plain consumer (no group, no commits) until every event id
    in `wanted` was seen or `bound_s` passed, then to its end; returns (event id → lead id, event id → records)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=10_000)
    await consumer.start()
    lead_of: dict[uuid.UUID, uuid.UUID] = {}
    copies: dict[uuid.UUID, int] = {}
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # a fresh client's metadata may lack the topic
            partitions = consumer.partitions_for_topic(topic) or set()
        assert partitions, f"{topic} has no partitions"
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=250)
            for batch in batches.values():
                for record in batch:
                    decoded = decode(record.value)
                    lead_of[decoded.envelope.event_id] = decoded.event.lead_id  # type: ignore[attr-defined]
                    copies[decoded.envelope.event_id] = copies.get(decoded.envelope.event_id, 0) + 1
            if wanted <= lead_of.keys() and not batches:  # everything wanted, and the end reached
                break
    finally:
        await consumer.stop()
    return lead_of, copies


async def test_the_api_keeps_writing_through_a_broker_outage_and_the_relay_publishes_every_row_after(
    private_broker: PrivateBroker, pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with leads_api(private_broker, pg_database, monkeypatch) as leads, relay_running(leads.runtime) as relay:
        worker_checks = readiness_checks(leads.engine, leads.runtime.settings)  # what its relay worker serves
        try:
            await outage_scenario(private_broker, leads, relay, worker_checks)
        finally:
            await close_checks(worker_checks.values())


async def outage_scenario(broker: PrivateBroker, leads: Leads, relay: asyncio.Task[None],
                          worker_checks: Mapping[str, ReadinessCheck]) -> None:
    def alive() -> None:
        assert_alive(relay)

    # --- before: the whole path works, readiness is plain ok ---------------------------------------------
    before_id, _ = await leads.create(0)
    await wait_for("the first lead's row published", lambda: nothing_unsent(leads.engine), 45, alive=alive)
    assert await leads.ready() == OK
    assert (await readiness(worker_checks))[0] == 200

    # --- the broker goes away ------------------------------------------------------------------------
    broker.stop()
    outage_started = time.monotonic()

    async def broker_reported_down() -> bool:
        _, body = await leads.ready()
        return bool(body["checks"]["kafka"] != "ok")

    noticed_s = await wait_for("the API's readiness noticing the outage", broker_reported_down,
                               READINESS_NOTICE_BOUND_S)

    # (a) writes keep being accepted, without waiting on the broker
    created: list[uuid.UUID] = []
    latencies: list[float] = []
    for n in range(1, LEADS_DURING_OUTAGE + 1):
        lead_id, elapsed = await leads.create(n)
        created.append(lead_id)
        latencies.append(elapsed)
    assert max(latencies) < WRITE_BOUND_S, latencies

    # (b) the API stays in its Service: 200 degraded; the database gates, and it is fine
    status, body = await leads.ready()
    assert status == 200, body
    assert body["status"] == "degraded" and body["degraded"] == ["kafka"], body
    assert body["checks"]["database"] == "ok" and body["checks"]["kafka"] != "ok", body

    # the worker counterpart: the same checks with the broker gating take its pod out
    worker_status, worker_body = await readiness(worker_checks)
    assert worker_status == 503, worker_body
    assert worker_body["status"] == "unavailable", worker_body
    assert worker_body["checks"]["database"] == "ok" and worker_body["checks"]["kafka"] != "ok", worker_body

    # (c) every lead written during the outage waits in the outbox, one LeadUpserted each
    unsent = await unsent_lead_upserts(leads.engine)
    outage_events = {event_id for event_id, lead_id in unsent.items() if lead_id in set(created)}
    assert sorted(unsent[event_id] for event_id in outage_events) == sorted(created), unsent

    while time.monotonic() - outage_started < OUTAGE_HOLD_S:
        alive()
        await asyncio.sleep(0.5)
    alive()
    assert outage_events <= (await unsent_lead_upserts(leads.engine)).keys(), "a row was taken out of the outbox meanwhile"
    outage_s = time.monotonic() - outage_started

    # --- (d) the broker comes back on the same state dir ------------------------------------------------
    restart_started = time.monotonic()
    broker.start()
    back = time.monotonic()

    # (e) the relay, never restarted, publishes every waiting row; a plain consumer finds every lead
    drained_s = await wait_for("the relay publishing the outage's rows", lambda: nothing_unsent(leads.engine),
                               CATCH_UP_BOUND_S, alive=alive)
    lead_of, copies = await lead_upserts_on_topic(broker.bootstrap, leads.topic, outage_events)
    missing = outage_events - lead_of.keys()
    assert not missing, f"{len(missing)} LeadUpserted of the outage never reached {leads.topic}"
    assert sorted(lead_of[event_id] for event_id in outage_events) == sorted(created)
    assert before_id in lead_of.values()
    on_topic_s = time.monotonic() - back
    ready_again_s = await wait_for("the API's readiness back to ok", lambda: _equals(leads.ready(), OK), 20)
    assert (await readiness(worker_checks))[0] == 200
    alive()

    duplicates = sum(copies.values()) - len(copies)
    print(f"\n[outage] readiness noticed the outage in {noticed_s:.1f} s; {len(created)} writes accepted during "
          f"it (201; p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms); "
          f"outage {outage_s:.1f} s; broker restart {back - restart_started:.1f} s; outbox drained "
          f"{drained_s:.1f} s after the broker was back, every outage lead found on the topic after "
          f"{on_topic_s:.1f} s ({sum(copies.values())} records, {duplicates} duplicates); API readiness ok "
          f"again a further {ready_again_s:.1f} s later")


async def test_a_relay_stopped_during_a_broker_outage_ends_promptly_and_the_next_one_publishes_its_rows(
    private_broker: PrivateBroker, pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with leads_api(private_broker, pg_database, monkeypatch) as leads:
        stop = asyncio.Event()
        relay = asyncio.create_task(run_relay_until_stopped(leads.runtime, stop))
        try:
            await leads.create(0)
            await wait_for("the first lead's row published", lambda: nothing_unsent(leads.engine), 45,
                           alive=lambda: assert_alive(relay))
            private_broker.stop()
            lead_id, _ = await leads.create(1)
            [event_id] = [e for e, lead in (await unsent_lead_upserts(leads.engine)).items() if lead == lead_id]
            # The relay claims the row and waits for the absent broker's acknowledgement.
            await wait_for("the relay claiming the outage's row", lambda: claimed_by_a_relay(leads.engine, event_id),
                           15, alive=lambda: assert_alive(relay))

            stop_started = time.monotonic()
            stop.set()  # what SIGTERM does in a worker
            await asyncio.wait_for(asyncio.gather(relay, return_exceptions=True), RELAY_STOP_BOUND_S + 15)
            stop_s = time.monotonic() - stop_started
        finally:
            stop.set()
            if not relay.done():
                relay.cancel()
                await asyncio.gather(relay, return_exceptions=True)
        assert relay.exception() is None, relay.exception()
        assert stop_s < RELAY_STOP_BOUND_S, f"the relay took {stop_s:.1f} s to stop during the outage"
        # Its transaction was rolled back: the row is unsent and free for the next relay.
        assert event_id in await unsent_lead_upserts(leads.engine)
        assert not await claimed_by_a_relay(leads.engine, event_id)

        private_broker.start()
        async with relay_running(leads.runtime) as successor:
            drained_s = await wait_for("the next relay publishing the row", lambda: nothing_unsent(leads.engine),
                                       CATCH_UP_BOUND_S, alive=lambda: assert_alive(successor))
            lead_of, copies = await lead_upserts_on_topic(private_broker.bootstrap, leads.topic, {event_id})
        assert lead_of.get(event_id) == lead_id
        # The stopped relay's producer dropped its unacknowledged batch: nothing of it arrives later.
        assert copies[event_id] == 1, copies
        print(f"\n[outage] a relay stopped during the outage ended in {stop_s:.1f} s (bound "
              f"{RELAY_STOP_BOUND_S:.0f} s); the next one published its row {drained_s:.1f} s after starting")


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
