"""The real consumers processes of the services for the poison tests (`python -m <service>.entrypoints.consumers`,
with the environment the launcher gives them), each on its own PostgreSQL schema and the test's topics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from poison_corpus import Rec
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import DBAPIError

from outreach_local.system import SERVICES, free_port
from outreach_ops.dlq import DlqEntry, inspect_dlq
from outreach_ops.offsets import PartitionLag, consumer_lag
from servicekit.messaging.dlq_depth import dlq_depths
from servicekit.messaging.kafka_config import PRODUCER_SAFETY
from servicekit.process.db import create_engine
from servicekit.testing import Database


@dataclass
class ConsumersProcess:
    service: str
    popen: subprocess.Popen[bytes]
    health_port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/metrics"

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        return f"--- {self.service} consumers ({self.log}) ---\n" + "\n".join(text)

    def assert_running(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.service} consumers exited with {self.popen.returncode}\n{self.tail()}")


def _env(service: str, db: Database, bootstrap: str, prefix: str, health_port: int) -> dict[str, str]:
    """What the launcher gives a consumers process (deploy/local/launcher: `LocalSystem._service_env`), pointed at
    this test's schema and topics. PlusVibe is never called here (no lead is linked to a campaign): its address is
    a closed port."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(tuple(f"{s.upper()}_" for s in SERVICES)) and not k.startswith("PLUSVIBE_")}
    env.pop("DATABASE_URL", None)
    upper = service.upper()
    env.update({
        f"{upper}_DATABASE_URL": db.url, f"{upper}_DB_SCHEMA": db.schema,
        f"{upper}_WORKER_HEALTH_PORT": str(health_port),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
        "PLUSVIBE_BASE_URL": "http://127.0.0.1:9/api/v1", "PLUSVIBE_API_KEY": "poison-test-key",
        "PLUSVIBE_WORKSPACE_ID": "poison-test-workspace",
    })
    if service == "unibox":
        env["UNIBOX_OPENS_POLL_INTERVAL_S"] = "3600"  # its periodic PlusVibe poll stays out of the way
    if service == "leads":
        env["LEADS_TEMPLATE_CHECK_INTERVAL_S"] = "0"  # its periodic campaign check (PlusVibe) stays off
    return env


@contextlib.contextmanager
def consumers_process(service: str, db: Database, bootstrap: str, prefix: str, log_dir: Path
                      ) -> Iterator[ConsumersProcess]:
    """The service's consumers process; SIGTERM on exit (a consumer leaves its group), SIGKILL after 30 s."""
    port = free_port()
    log = log_dir / f"{service}-consumers.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen([sys.executable, "-m", f"{service}.entrypoints.consumers"],
                                 env=_env(service, db, bootstrap, prefix, port), stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    proc = ConsumersProcess(service, popen, port, log)
    try:
        yield proc
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)


# --- producing and observing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    """A produced record and where the broker put it."""

    rec: Rec
    partition: int
    offset: int


async def produce(bootstrap: str, topic: str, records: Sequence[Rec]) -> list[Placed]:
    """Produces the records in order with the kit's safe producer settings (idempotent, acks=all: per-partition
    order is kept, so a conflicting id or a redelivery lands after its original)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=r.value, key=r.key, headers=r.headers) for r in records]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [Placed(r, m.partition, m.offset) for r, m in zip(records, metadata, strict=True)]


async def table_rows(db: Database, query: Any) -> list[Any]:
    """Rows of a query on a service's schema; [] while the process has not migrated it yet."""
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(query))
    except DBAPIError:
        return []
    finally:
        await engine.dispose()


async def dlq_entries(bootstrap: str, dlq_topic: str) -> list[DlqEntry]:
    """Every record of a DLQ, as `outreach-ops dlq inspect` reads them."""
    return await inspect_dlq(bootstrap, dlq_topic, limit=10_000_000, timeout_s=120)


async def dlq_depth(bootstrap: str, dlq_topic: str) -> int:
    return (await dlq_depths(bootstrap, [dlq_topic], age_timeout_s=1.0))[0].depth


async def lag_rows(bootstrap: str, groups: Sequence[str]) -> list[PartitionLag]:
    """Committed offset vs log end per partition, as `outreach-ops lag` reports it."""
    return await consumer_lag(bootstrap, groups)


async def consumer_counts(proc: ConsumersProcess) -> dict[tuple[str, str], float]:
    """(group, outcome) → records, from the process's own /metrics (`consumer_records_total`)."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        text = (await client.get(proc.metrics_url)).text
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "consumer_records_total":
                counts[(sample.labels["group"], sample.labels["outcome"])] = sample.value
    return counts
