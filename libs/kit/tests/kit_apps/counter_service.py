"""A minimal service used by the kit's tests: consumes AuditRequested records and counts effects, or runs
the outbox relay. Runs in-process or as a subprocess (so tests can SIGKILL it).

    python -m kit_apps.counter_service consumer|relay --db URL --schema S --bootstrap B --prefix P [--crash-after-effect FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

from faststream import FastStream
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.leads import AuditRequested
from contracts.topics import AUDIT_REQUESTED
from servicekit.messaging.broker import create_broker
from servicekit.messaging.consumer import EventConsumer, broker_dlq_publisher, each
from servicekit.messaging.events import Decoded
from servicekit.messaging.relay import OutboxRelay, make_producer
from servicekit.messaging.subscriber import subscribe
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import kit_metadata

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False),
    Column("domain", String(200), nullable=False),
)

GROUP = "counter.on_audit_requested"


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
        await conn.run_sync(metadata.create_all)


async def count_effects(engine: AsyncEngine) -> tuple[int, int]:
    """(rows, distinct event ids)."""
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(effects))).scalar_one()
        distinct = (await conn.execute(select(func.count(func.distinct(effects.c.event_id))))).scalar_one()
    return int(total), int(distinct)


def make_handler(crash_marker: Path | None):
    async def handle(item: Decoded, uow: UnitOfWork) -> None:
        event = item.event
        assert isinstance(event, AuditRequested)
        if event.domain.startswith("permanent-"):
            raise ValueError("this domain can never be handled")
        await uow.session.execute(
            effects.insert().values(event_id=item.envelope.event_id, lead_id=event.lead_id, domain=event.domain)
        )
        if crash_marker is not None and crash_marker.exists():
            # Commit the effect ourselves, then die before FastStream can commit the offset.
            await uow.commit()
            crash_marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)

    return handle


def build_consumer(engine: AsyncEngine, broker, prefix: str, crash_marker: Path | None) -> EventConsumer[UnitOfWork]:
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    return EventConsumer(
        group=f"{prefix}{GROUP}",
        topic=AUDIT_REQUESTED,
        handle=each(make_handler(crash_marker)),
        uow_factory=lambda: UnitOfWork(sessions),
        dlq_topic=f"{prefix}{AUDIT_REQUESTED.dlq}",
        dlq_publish=broker_dlq_publisher(broker),
        transient_budget_s=5.0,
    )


async def run_consumer(db: str, schema: str, bootstrap: str, prefix: str, crash_marker: Path | None) -> None:
    engine = create_engine(db, schema=schema)
    broker = create_broker(bootstrap, client_id="counter")
    consumer = build_consumer(engine, broker, prefix, crash_marker)
    subscribe(broker, consumer, topic_name=f"{prefix}{AUDIT_REQUESTED.name}", max_records=50)
    app = FastStream(broker)
    await app.run()


async def run_relay(db: str, schema: str, bootstrap: str, keep_sent_s: float = 0.0) -> None:
    engine = create_engine(db, schema=schema)
    producer = make_producer(bootstrap, "counter-relay")
    await producer.start()
    relay = OutboxRelay(engine, producer, schema=schema, batch_size=50, keep_sent=timedelta(seconds=keep_sent_s))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, relay.stop)
    try:
        await relay.run()
    finally:
        await producer.stop()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["consumer", "relay"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--crash-after-effect", type=Path)
    parser.add_argument("--keep-sent-s", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "consumer":
        asyncio.run(run_consumer(args.db, args.schema, args.bootstrap, args.prefix, args.crash_after_effect))
    else:
        asyncio.run(run_relay(args.db, args.schema, args.bootstrap, args.keep_sent_s))


if __name__ == "__main__":
    main()
