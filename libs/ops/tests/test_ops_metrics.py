"""An API's `/metrics`: DLQ depth and outbox backlog gauges computed on scrape, HTTP latency, and the process-wide
metrics (the default registry: the PlusVibe client's counters). The consumer lag is not asked of the broker here:
the consumers measure it (test_kit_consumer_metrics)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka.structs import OffsetAndMetadata
from fastapi import APIRouter, FastAPI
from ops_kafka_helpers import OpsTopic, produce, tp
from prometheus_client.parser import text_string_to_metric_families

from plusvibe import metrics as plusvibe_metrics
from servicekit.messaging.kafka_admin import offsets_consumer
from servicekit.process.db import create_engine
from servicekit.process.tables import kit_metadata, outbox
from servicekit.testing import Database
from servicekit.web.metrics import install_metrics

pytestmark = pytest.mark.kafka


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in /metrics:\n{text}")


async def test_metrics_endpoint_renders_lag_dlq_outbox_plusvibe_and_latency(
    ops_topic: OpsTopic, sqlite_database: Database
) -> None:
    group = f"{ops_topic.prefix}svc.on_audit_failed"
    await produce(ops_topic.bootstrap, ops_topic.name, [(0, b"k", b"v", [])] * 5)
    async with offsets_consumer(ops_topic.bootstrap, group_id=group) as committer:
        committer.assign([tp(ops_topic.name, 0)])
        await committer.commit({tp(ops_topic.name, 0): OffsetAndMetadata(2, "")})
    await produce(ops_topic.bootstrap, ops_topic.dlq, [(0, b"k", b"bad", [])] * 2)

    engine = create_engine(sqlite_database.url)
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
        now = datetime.now(UTC)
        await conn.execute(outbox.insert(), [
            {"event_id": uuid.uuid4(), "event_type": "X", "topic": "t", "msg_key": None, "headers": {},
             "payload": b"{}", "created_at": now, "sent_at": sent}
            for sent in (None, None, None, now)])

    runtime: Any = SimpleNamespace(
        settings=SimpleNamespace(kafka_bootstrap_servers=ops_topic.bootstrap, kafka_security=None),
        consumers=[SimpleNamespace(group=group, dlq_topic=ops_topic.dlq)],
        engine=engine,
    )
    app = FastAPI()
    router = APIRouter()

    @router.get("/api/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.include_router(router)
    install_metrics(app, runtime)
    plusvibe_metrics.observe("/lead/add", None, 0.2)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            assert (await client.get("/api/things/abc")).status_code == 200
            response = await client.get("/metrics")
    finally:
        await engine.dispose()
    assert response.status_code == 200
    text = response.text
    # The API asks the broker for no lag (its consumers measure their own partitions): none for this group.
    assert [line for line in text.splitlines() if line.startswith("kafka_consumer_group_lag{") and group in line] == []
    assert _value(text, "kafka_dlq_depth", topic=ops_topic.dlq) == 2
    assert _value(text, "kafka_dlq_not_redriven", topic=ops_topic.dlq) == 2
    assert _value(text, "outbox_backlog") == 3
    assert _value(text, "plusvibe_calls_total", endpoint="/lead/add", outcome="ok") >= 1
    assert _value(text, "http_request_duration_seconds_count", method="GET", route="/api/things/{thing_id}",
                  status="200") >= 1
