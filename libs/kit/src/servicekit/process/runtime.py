"""What every service process needs, built once from settings: the engine, the unit-of-work factory, the
outbox signal, the broker, and the loops (consumers, relay) a process may run.

A service's `bootstrap(settings, **overrides)` creates a `ServiceRuntime`, adds its consumers, and hands it to
an entrypoint: `entrypoints/http.py` (API), `entrypoints/consumers.py`, `entrypoints/relay.py`, or all three
in one process for tests and small deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.messaging.broker import KitKafkaBroker, create_broker
from servicekit.messaging.consumer import EventConsumer, Handler, as_batch_handler, batch_handler, broker_dlq_publisher
from servicekit.messaging.membership_watchdog import MembershipWatchdog, stall_s
from servicekit.messaging.relay import OutboxRelay, make_producer, stop_producer
from servicekit.messaging.subscriber import subscribe
from servicekit.messaging.uow import OutboxSignal, UnitOfWork
from servicekit.process.db import is_postgres, service_engine
from servicekit.process.migrate import upgrade
from servicekit.process.settings import ServiceSettings
from servicekit.process.tracing import configure_tracing
from servicekit.process.worker_health import WorkerHealthServer, readiness_checks, start_worker_health

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)

INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE of "permission denied for ..."


class MigrationStartupError(RuntimeError):
    """The process was to migrate at start but its database role may not: the message names the role, the
    database's refusal and the command that migrates instead."""


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def migration_permission_message(service: str, url: str, schema: str, exc: DBAPIError) -> str:
    role = make_url(url).username or "?"
    # asyncpg's errors arrive as "<class 'asyncpg.exceptions.InsufficientPrivilegeError'>: permission denied ..."
    refusal = re.sub(r"^<class '[^']+'>: ", "", str(exc.orig).splitlines()[0] if str(exc.orig) else "permission denied")
    return (f"{service}: cannot migrate schema {schema!r} at start (MIGRATE_ON_START=true): database role "
            f"{role!r} has no DDL rights ({refusal}). Apply the migrations with the DDL role "
            f"first: `python -m {service}.entrypoints.migrate` with that role's DATABASE_URL and "
            f"DB_RUNTIME_ROLE={role}; then start the service with MIGRATE_ON_START=false.")


# A loop a worker process runs until `stop` is set (consumers, relay, a service's own worker or jobs).
Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ServiceLoop:
    """A service's own loop (an audit worker, a delivery worker, periodic jobs) and the database connections it
    holds at most at once (the consumers process's pool counts them)."""

    run: Loop
    connections: int


@dataclass
class ServiceRuntime(Generic[U]):
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    uow_class: type[U]
    migrations: str | None
    signal: OutboxSignal = field(default_factory=OutboxSignal)
    uow_kwargs: dict[str, Any] = field(default_factory=dict)
    broker: KitKafkaBroker | None = None
    consumers: list[EventConsumer[U]] = field(default_factory=list)
    loops: dict[str, ServiceLoop] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    def create(cls, settings: ServiceSettings, uow_class: type[U], *, migrations: str | None,
               pool_size: int | None = None, **uow_kwargs: Any) -> ServiceRuntime[U]:
        engine = service_engine(settings, pool_size=pool_size or settings.db_pool_size)
        sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        return cls(settings=settings, engine=engine, sessions=sessions, uow_class=uow_class,
                   migrations=migrations, uow_kwargs=uow_kwargs)

    @property
    def schema(self) -> str | None:
        return self.settings.resolved_schema() if is_postgres(self.settings.resolved_database_url()) else None

    def uow(self) -> U:
        return self.uow_class(
            self.sessions,
            topic_namer=lambda name: f"{self.settings.kafka_topic_prefix}{name}",
            schema=self.schema,
            signal=self.signal,
            **self.uow_kwargs,
        )

    async def migrate(self) -> None:
        """At start-up, unless migrations are a separate step (`migrate_on_start=False`, servicekit.process.migrate_cli).
        A database role without DDL rights fails here with `MigrationStartupError` saying what to run instead
        (a DML-only role started with the default `MIGRATE_ON_START=true`), not with the driver's traceback."""
        if self.migrations is None or not self.settings.migrate_on_start:
            return
        url = self.settings.resolved_database_url()
        schema = self.settings.resolved_schema() if is_postgres(url) else "main"
        try:
            await upgrade(url, schema=schema, script_location=self.migrations,
                          toast_compression=self.settings.db_toast_compression)
        except DBAPIError as exc:
            if _sqlstate(exc) != INSUFFICIENT_PRIVILEGE:
                raise
            message = migration_permission_message(self.settings.service_name, url, schema, exc)
            log.error(message)
            raise MigrationStartupError(message) from None

    def get_broker(self) -> KitKafkaBroker:
        if self.broker is None:
            self.broker = create_broker(self.settings.kafka_bootstrap_servers, client_id=self.settings.service_name)
        return self.broker

    def add_consumer(self, topic_spec: Any, handler_name: str, handle: Handler[U] | batch_handler[U], *,
                     expected_types: frozenset[str] | None = None,
                     max_records: int | None = None, linger_ms: int = 0) -> EventConsumer[U]:
        """Subscribes `handle` to a registry topic with consumer group `<service>.<handler_name>`: a handler of one
        event, or of the batch's events at once when marked `@batch_handler` (see `servicekit.messaging.consumer`).
        `linger_ms`: how long a fetch may wait for more records (`GroupSubscriber`); 0 answers at once."""
        broker = self.get_broker()
        s = self.settings
        consumer: EventConsumer[U] = EventConsumer(
            group=f"{s.kafka_topic_prefix}{s.service_name}.{handler_name}",
            topic=topic_spec,
            handle=as_batch_handler(handle),
            uow_factory=self.uow,
            dlq_topic=s.dlq_topic(topic_spec),
            dlq_publish=broker_dlq_publisher(broker),
            transient_budget_s=s.consumer_transient_budget_s,
            expected_types=expected_types,
        )
        subscribe(broker, consumer, topic_name=s.topic(topic_spec), max_records=max_records or s.consumer_max_records,
                  batch_timeout_ms=s.consumer_batch_timeout_ms, linger_ms=linger_ms)
        self.consumers.append(consumer)
        return consumer

    def add_loop(self, name: str, loop: Loop, *, connections: int) -> None:
        """Registers one of the service's own loops. It runs beside the consumers, wherever they run: in the
        consumers process (`serve_worker(consumers=True)`) and in an API with embedded workers alike;
        `connections` is what it holds of the database pool at most at once."""
        if name in self.loops or name in ("consumers", "relay"):
            raise ValueError(f"a loop named {name!r} is already registered")
        self.loops[name] = ServiceLoop(loop, connections)

    def loop_connections(self) -> int:
        """Database connections the service's own loops hold at most at once, together."""
        return sum(loop.connections for loop in self.loops.values())

    def add_closer(self, close: Callable[[], Awaitable[None]]) -> None:
        """Registers a client to close when the process ends (a PlusVibe client's connection pool), before the
        database engine; in reverse order of registration."""
        self.closers.append(close)

    async def dispose(self) -> None:
        closers, self.closers = self.closers, []
        try:
            for close in reversed(closers):
                try:
                    await close()
                except Exception:  # one client failing to close must not keep the others (or the engine) open
                    log.warning("closing a client failed", exc_info=True)
        finally:
            await self.engine.dispose()


def settle_heap(young_threshold: int | None = None) -> None:
    """Called once a worker has imported and connected everything: the objects alive now (modules, ORM
    mappers, pydantic schemas, clients) live as long as the process, so they leave the garbage collector's
    generations (`gc.freeze`). Full collections then walk only what handling events allocates — each used to
    walk the whole heap, stalling the event loop in the middle of a batch. Once per process: frozen cyclic
    garbage is never collected, so a process that starts many runtimes (a test session) freezes only once.

    `young_threshold` (the setting `gc_young_threshold`): allocations between two young collections, instead of
    CPython's 700. A consumer batch allocates hundreds of thousands of short-lived containers (envelopes, models,
    ORM rows) that are all garbage once it commits; at 700 a worker ran ~2,300 collections over a burst of 10,000
    leads and they took 5 % of its CPU, each walking objects still in use. At 20,000 it runs ~40, for 2–3 %
    (docs/PERFORMANCE.md)."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
    if young_threshold is not None:
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


_heap_settled = False


async def run_relay_until_stopped(runtime: ServiceRuntime[Any], stop: asyncio.Event) -> None:
    s = runtime.settings
    producer = make_producer(s.kafka_bootstrap_servers, f"{s.service_name}-relay")
    await producer.start()
    settle_heap(runtime.settings.gc_young_threshold)
    relay = OutboxRelay(runtime.engine, producer, schema=runtime.schema, batch_size=s.relay_batch_size,
                        poll_interval_s=s.relay_poll_interval_s, signal=runtime.signal,
                        keep_sent=timedelta(seconds=s.outbox_keep_sent_s))
    task = asyncio.create_task(relay.run())
    stopped = asyncio.create_task(stop.wait())
    try:
        # Ends when stop is set, or as soon as the relay's loop dies: its exception then ends this task too,
        # so the process exits (and worker liveness reports the relay dead) instead of idling without a relay.
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not stop.is_set():
            task.result()  # re-raises the relay's failure
            raise RuntimeError("the outbox relay loop returned before stop was set")
    finally:
        stopped.cancel()
        relay.stop()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was raised above already
            await asyncio.wait_for(task, 10)
        await stop_producer(producer)  # bounded: a plain stop() waits for an absent broker forever


async def run_consumers_until_stopped(runtime: ServiceRuntime[Any], stop: asyncio.Event) -> None:
    broker = runtime.get_broker()
    await broker.start()
    settle_heap(runtime.settings.gc_young_threshold)
    watch = None
    if stall_s() > 0:
        watchdog = MembershipWatchdog(broker.kit_subscribers, stall_after_s=stall_s())
        watch = asyncio.create_task(watchdog.run(stop))
    try:
        await stop.wait()
    finally:
        if watch is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(watch, 10)
        await broker.stop()


def stop_event_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop




async def run_every(interval_s: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event, name: str) -> None:
    """A periodic job as a loop: runs `job` now and then every `interval_s` until `stop`; a failing run is logged,
    never fatal. A run still going when `stop` is set is cancelled (its transaction rolls back), so a process
    ends promptly even while a job waits out a dependency's retries; jobs are written to be run again."""
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            run = asyncio.ensure_future(job())
            await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run
                return
            if not run.cancelled() and (failure := run.exception()) is not None:
                log.error("periodic job %s failed", name, exc_info=failure)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), interval_s)
    finally:
        stopped.cancel()


def kit_loops(runtime: ServiceRuntime[Any], *, consumers: bool, relay: bool) -> dict[str, Loop]:
    """The loops a worker process runs, by the names its health endpoints report: with `consumers`, the
    consumers and the service's own loops (`ServiceRuntime.add_loop`); with `relay`, the outbox relay."""
    loops: dict[str, Loop] = {}
    if consumers:
        loops["consumers"] = lambda stop: run_consumers_until_stopped(runtime, stop)
        loops.update((name, loop.run) for name, loop in runtime.loops.items())
    if relay:
        loops["relay"] = lambda stop: run_relay_until_stopped(runtime, stop)
    return loops


async def run_loops(runtime: ServiceRuntime[Any], stop: asyncio.Event, loops: Mapping[str, Loop]) -> None:
    """Runs the loops until every one has ended, with the health endpoints watching them when
    `worker_health_port` is set (servicekit.process.worker_health). If one fails, the others are cancelled and the
    failure is raised (the process then exits and is restarted)."""
    tasks: dict[str, asyncio.Task[None]] = {name: asyncio.create_task(loop(stop)) for name, loop in loops.items()}
    health: WorkerHealthServer | None = None
    try:
        health = await start_worker_health(runtime.settings, tasks, readiness_checks(runtime.engine, runtime.settings),
                                           stop)
        await asyncio.gather(*tasks.values())
    finally:
        if health is not None:
            await health.aclose()
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def serve_worker(runtime: ServiceRuntime[Any], *, consumers: bool, relay: bool) -> None:
    """The body of a worker process: migrate, then run the consumers with the service's own loops and/or the
    relay (`kit_loops`) until SIGTERM; then close the service's clients and the engine (`dispose`)."""
    configure_tracing(runtime.settings.service_name)
    await runtime.migrate()
    stop = stop_event_on_signals()
    loops = kit_loops(runtime, consumers=consumers, relay=relay)
    log.info("worker started", extra={"fields": {"loops": sorted(loops)}})
    try:
        await run_loops(runtime, stop, loops)
    finally:
        await runtime.dispose()
