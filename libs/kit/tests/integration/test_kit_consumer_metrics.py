"""A worker's `/metrics` (its health port) reports what its consumers did, counted from their own stats, and the
lag of the partitions they own, measured from their fetches: on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest
from aiokafka import TopicPartition
from kit_apps.counter_service import build_consumer
from kit_factories import audit_requested, record_of
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.topics import AUDIT_REQUESTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.messaging.broker import create_broker
from servicekit.messaging.subscriber import note_lag, subscribe
from servicekit.process.worker_health import WorkerHealth, start_health_server
from servicekit.testing import publish_raw, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def samples(text: str, name: str, **labels: str) -> list[float]:
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


async def test_the_worker_metrics_count_applied_duplicate_and_parked_records_and_show_the_lag(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    envs = [audit_requested(f"m{i}.test") for i in range(15)]
    poison = (b"k", b"not an envelope", [])
    await publish_raw(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}",
                      [record_of(e) for e in envs + envs[:5]] + [poison])
    broker = create_broker(kafka_bootstrap, client_id="metrics-test")
    consumer = build_consumer(engine, broker, topic_prefix, None)
    subscribe(broker, consumer, topic_name=f"{topic_prefix}{AUDIT_REQUESTED.name}", max_records=4)
    stop = asyncio.Event()
    server = await start_health_server(WorkerHealth({}, {}, stop), "127.0.0.1", 0)
    try:
        async with broker:
            await broker.start()

            async def handled() -> bool:
                return consumer.stats.applied + consumer.stats.duplicates + consumer.stats.parked >= 21

            await wait_until(handled, what="21 records handled")

            async def caught_up() -> bool:  # an empty fetch after the last record reports every partition
                return len(consumer.stats.lag) == AUDIT_REQUESTED.partitions

            await wait_until(caught_up, what="the lag of every assigned partition")
            async with httpx.AsyncClient(trust_env=False) as client:
                response = await client.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    finally:
        stop.set()
        await server.wait_closed()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text, group = response.text, consumer.group
    assert samples(text, "consumer_records_total", group=group, outcome="applied") == [15]
    assert samples(text, "consumer_records_total", group=group, outcome="duplicate") == [5]
    assert samples(text, "consumer_records_total", group=group, outcome="parked") == [1]
    assert samples(text, "consumer_batches_total", group=group)[0] >= 6
    lag = samples(text, "kafka_consumer_group_lag", group=group, topic=f"{topic_prefix}{AUDIT_REQUESTED.name}")
    assert lag == [0.0] * AUDIT_REQUESTED.partitions


class _Fetcher:
    """What `note_lag` reads from an aiokafka consumer: its assignment and each partition's high watermark."""

    def __init__(self, assigned: list[tuple[str, int]], highwater: dict[tuple[str, int], int]) -> None:
        self._assigned = [TopicPartition(t, p) for t, p in assigned]
        self._highwater = highwater

    def assignment(self) -> list[TopicPartition]:
        return self._assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._highwater.get((tp.topic, tp.partition))


def test_the_lag_is_the_high_watermark_minus_the_position_after_the_last_fetched_record() -> None:
    lag: dict[tuple[str, int], int] = {("t", 9): 4}  # a partition revoked since: forgotten
    fetcher = _Fetcher([("t", 0), ("t", 1)], {("t", 0): 100, ("t", 1): 7})
    tp0 = fetcher.assignment()[0]
    note_lag(fetcher, {tp0: [SimpleNamespace(offset=40), SimpleNamespace(offset=41)]}, lag)
    assert lag == {("t", 0): 58}  # 100 - 42; partition 1 not fetched yet: unknown, not 0
    note_lag(fetcher, {}, lag)
    assert lag == {("t", 0): 0, ("t", 1): 0}  # an empty fetch: everything assigned is caught up
