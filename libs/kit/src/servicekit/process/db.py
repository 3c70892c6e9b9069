"""Async SQLAlchemy engines for PostgreSQL (one schema per service) and the embedded SQLite default."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core
from sqlalchemy import JSON, ColumnElement, DateTime, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator

from servicekit.process.errors import is_transient
from servicekit.process.tracing import trace_engine

if TYPE_CHECKING:
    from servicekit.process.settings import ServiceSettings

log = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(column: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[Any], dialect_name: str
           ) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL as `column = ANY($1)` with ONE array parameter: the SQL text is the
    same for any number of values, so it is compiled and prepared once per connection — `IN ($1, …, $n)`
    is a new statement (a prepare round trip and a parse) for every batch size a consumer sees."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def tls_needless(url: str) -> bool:
    """True for a PostgreSQL URL on a loopback host that does not choose its TLS mode (`ssl`/`sslmode`).

    asyncpg's default (`prefer`) negotiates TLS whenever the server offers it — Debian's server does — and on
    loopback that only costs CPU on both ends: the bytes never leave the kernel. Such connections go without
    TLS; any other host, or a URL that says `sslmode=...`, keeps the driver's behaviour.
    """
    parsed = make_url(url)
    return (parsed.get_backend_name() == "postgresql" and (parsed.host or "") in LOOPBACK_HOSTS
            and not {"ssl", "sslmode"} & set(parsed.query))


# --- the connection budget (docs/KUBERNETES-RUNBOOK.md "Connection budget") -----------------------------------
# A pool opens connections as they are first needed and keeps them (no overflow: see create_engine), so its size
# is the most a process ever holds; each figure is what one process type runs against the database at once.
Process = Literal["api", "consumers", "relay"]
# /health/ready's `SELECT 1` (servicekit.process.readiness.database_check): its own slot, so a busy process still answers
# its readiness probe instead of queueing it behind the work for the pool timeout.
PROBE_CONNECTIONS = 1
# An API is one event loop on at most one CPU: more connections than the requests it can actually be running
# on that CPU only move the queue from the pool into PostgreSQL. It scales out (HPA on CPU), not up. The
# reference endpoint of docs/PERFORMANCE.md (bench_read's bare asyncpg app) reaches its peak with 10 too.
# Includes the probe and the outbox gauge of /metrics.
API_POOL_SIZE = 10
# The relay's loop runs one transaction at a time (claim and delete a batch FOR UPDATE SKIP LOCKED, publish,
# commit; the periodic purge runs in the same loop), plus the probe.
RELAY_POOL_SIZE = 1 + PROBE_CONNECTIONS
# Outside the pool: the relay's LISTEN connection (servicekit.messaging.relay.OutboxRelay._listen).
RELAY_LISTEN_CONNECTIONS = 1
POOL_SIZE = 20  # a process that named no process type: tests, embedded workers (API + consumers + relay), tools
POOL_TIMEOUT_S = 3.0  # the default of `ServiceSettings.db_pool_timeout_s`


def worker_pool_size(*, subscribers: int, loop_connections: int) -> int:
    """A consumers process: every consumer subscriber applies one batch at a time in one transaction (FastStream
    fetches the next batch only once the previous one is handled), the service's own loops (an audit worker,
    a delivery worker, periodic jobs) hold `loop_connections` at most at once, and the probe has its own."""
    return subscribers + loop_connections + PROBE_CONNECTIONS


def pool_size_for(process: Process, *, subscribers: int = 0, loop_connections: int = 0) -> int:
    """The pool of one process type; `subscribers`/`loop_connections` count for a consumers process only."""
    if process == "api":
        return API_POOL_SIZE
    if process == "relay":
        return RELAY_POOL_SIZE
    return worker_pool_size(subscribers=subscribers, loop_connections=loop_connections)


# --- session pooling is required ------------------------------------------------------------------------------
SESSION_CHECK_TIMEOUT_S = 3.0


class SessionPoolingRequired(RuntimeError):
    """The database address is a pooler that lends a server connection per transaction (PgBouncer
    `pool_mode = transaction` or `statement`), which breaks what every process relies on: the schema's
    search_path set once per connection, asyncpg's prepared statements, the relay's LISTEN."""

    # Raised inside a consumer batch only where a process skipped the start-up check: nothing was applied, and
    # the batch goes through once the pooler is fixed, so it is retried rather than dead-lettered at once.
    transient = True


def session_pooling_message(url: str) -> str:
    parsed = make_url(url)
    return (f"the database at {parsed.host}:{parsed.port or 5432} does not keep a session per connection: a "
            "NOTIFY to this connection's LISTEN never arrived, which is what a pooler in transaction or statement "
            "mode does (PgBouncer pool_mode = transaction). The services keep session state (search_path, "
            "prepared statements, the outbox relay's LISTEN), so they refuse to run behind it. Fix: set "
            "pool_mode = session in PgBouncer, or connect to PostgreSQL directly "
            "(docs/KUBERNETES-RUNBOOK.md \"Connection budget\").")


async def session_kept(listener: Any, notifier: Any, *, timeout_s: float = SESSION_CHECK_TIMEOUT_S) -> bool:
    """True when a NOTIFY sent from `notifier` reaches the LISTEN of `listener` (two raw asyncpg connections).

    A session pooler (or none) keeps `listener` on its server connection, so the notification arrives in a
    few milliseconds. A transaction pooler returns that server connection to its pool as soon as the LISTEN
    statement ends: whichever client's transaction the server runs next gets the notification (or nobody
    does), never `listener` — deterministic, unlike comparing `pg_backend_pid()` across two transactions,
    which an idle transaction pooler answers with the same server connection again."""
    import asyncpg

    channel = f"servicekit_session_check_{uuid.uuid4().hex}"
    arrived = asyncio.Event()

    def _on_notify(*_args: Any) -> None:
        arrived.set()

    try:
        # asyncpg prepares the LISTEN under a name of its own (__asyncpg_stmt_<n>__): on a fresh connection that
        # name can only be taken if the server connection was another client's, i.e. lent by a pooler.
        await listener.add_listener(channel, _on_notify)
    except (asyncpg.DuplicatePreparedStatementError, asyncpg.InvalidSQLStatementNameError):
        return False
    try:
        # A simple-protocol statement, like LISTEN: no prepared statement, whose name a transaction pooler could
        # find taken on the server it lends (asyncpg names them per connection, __asyncpg_stmt_1__, ...).
        await notifier.execute(f'NOTIFY "{channel}"')
        try:
            await asyncio.wait_for(arrived.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
    finally:
        with contextlib.suppress(asyncpg.DuplicatePreparedStatementError, asyncpg.InvalidSQLStatementNameError):
            await listener.remove_listener(channel, _on_notify)


def require_session_on_first_connect(engine: AsyncEngine, connect_args: dict[str, Any], *,
                                     timeout_s: float = SESSION_CHECK_TIMEOUT_S) -> None:
    """Runs `session_kept` on the engine's first connection, with a second, short-lived connection as the
    notifier; `SessionPoolingRequired` if the session is not kept. Once per engine (a few milliseconds):
    after a success later connections are not checked; after a failure the next connection checks again.
    It runs before anything else on the connection (SQLAlchemy's own set-up prepares statements, which behind
    a transaction pooler may fail first, with a less telling error)."""
    checked = False

    @event.listens_for(engine.sync_engine, "connect", insert=True)
    def _check(dbapi_conn: Any, _record: Any) -> None:
        nonlocal checked
        if checked:
            return
        dialect = engine.sync_engine.dialect
        cargs, cparams = dialect.create_connect_args(engine.sync_engine.url)
        other = dialect.connect(*cargs, **{**cparams, **connect_args})
        try:
            kept = dbapi_conn.run_async(
                lambda listener: session_kept(listener, other.driver_connection, timeout_s=timeout_s))
        finally:
            other.close()
        if not kept:
            message = session_pooling_message(engine.url.render_as_string())
            log.error(message)
            raise SessionPoolingRequired(message)
        checked = True


async def check_session_pooling(engine: AsyncEngine) -> None:
    """At process start: connects once, so the engine's session check runs before any work instead of in the
    first batch or request; `SessionPoolingRequired`, or any other refusal of the connection, ends the
    process there. A database that cannot be reached (a transient fault: servicekit.process.errors.is_transient) is
    not fatal, the processes ride out outages: the check then runs on the first connection that succeeds."""
    if engine.dialect.name != "postgresql":
        return
    try:
        async with engine.connect():
            pass
    except SessionPoolingRequired:
        raise
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("database unreachable at start (%s); its session check runs on the first connection",
                    exc.__class__.__name__)


def set_search_path_on_connect(engine: AsyncEngine, schema: str) -> None:
    """Every new connection first runs `SET search_path` (before SQLAlchemy's own set-up, which reads
    current_schema()). Not the `search_path` startup parameter: PgBouncer refuses it ("unsupported startup
    parameter: search_path"), and with `ignore_startup_parameters = search_path` it drops it silently, so
    the service would run in the role's default schema. One round trip per connection, which is kept."""

    @event.listens_for(engine.sync_engine, "connect", insert=True)
    def _search_path(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.run_async(lambda conn: conn.execute(f'SET search_path TO "{schema}"'))


ToastCompression = Literal["lz4", "server"]
TOAST_COMPRESSION: ToastCompression = "lz4"


def compress_toast_with_lz4_on_connect(engine: AsyncEngine) -> None:
    """Every new connection asks PostgreSQL to compress the large values it writes with lz4 instead of the server's
    default, pglz (`default_toast_compression`, a session setting since PostgreSQL 14).

    PostgreSQL compresses a value when its row is over ~2 KB: the outbox payloads of LeadUpserted (~2.9 KB) and
    WritebackCompleted (~2.3 KB), writeback's variables and inputs (jsonb), leads' stored copy; about four values per
    lead of the pipeline. Inserting those two payloads took 17-18.5 µs of the server's CPU per value with pglz and
    8-8.5 µs with lz4 (reading back 4-4.5 against 3-3.5 µs), in the same space (docs/PERFORMANCE.md). Values already
    stored keep the method they were written with, and every reader decompresses either. A server built without lz4
    (or older than 14) keeps its own default: logged once per process, nothing fails.
    `<SVC>_DB_TOAST_COMPRESSION=server` (or `DB_TOAST_COMPRESSION=server`) leaves the server's default alone. Not a
    startup parameter, for the reason `set_search_path_on_connect` gives."""

    @event.listens_for(engine.sync_engine, "connect")
    def _toast_compression(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.run_async(prefer_lz4_toast_compression)


PREFER_LZ4 = "SET default_toast_compression = lz4"
_refusal_logged = {"lz4": False}


async def prefer_lz4_toast_compression(conn: Any) -> bool:
    """`SET default_toast_compression = lz4` on an asyncpg connection; False (logged once per process) when the
    server refuses it, which leaves the connection as it was (outside a transaction, a refused SET changes
    nothing)."""
    import asyncpg

    try:
        await conn.execute(PREFER_LZ4)
    except (asyncpg.InvalidParameterValueError, asyncpg.UndefinedObjectError) as exc:
        if not _refusal_logged["lz4"]:
            _refusal_logged["lz4"] = True
            log.info("PostgreSQL keeps its own compression of large values (lz4 refused: %s)", exc)
        return False
    return True


PING_IDLE_AFTER_S = 5.0


def ping_idle_connections(engine: AsyncEngine, *, idle_after_s: float = PING_IDLE_AFTER_S) -> None:
    """Checks a pooled connection before use only when it sat idle for `idle_after_s` or more.

    SQLAlchemy's `pool_pre_ping` pings on EVERY checkout, and for asyncpg a ping is three round trips
    (BEGIN, `;`, ROLLBACK): a busy consumer paid them before each batch, an API before each request. A
    connection in steady use has just proved itself; one that idled (where a database restart or an idle
    timeout bites) is pinged, and a dead one is replaced transparently (`DisconnectionError` makes the pool
    retry with a fresh connection). A connection that dies between two close uses fails its statement: a
    consumer retries that as transient, an API answers 503 — the same as a failure in mid-transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()  # just connected: nothing to check

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < idle_after_s:
            return
        try:
            dbapi_conn.ping()
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its ping") from exc


def json_text(value: Any) -> str:
    """A JSON column's value as the text sent to the database: pydantic-core's Rust encoder, about 4× faster than
    `json.dumps` on the pipeline's values (a writeback payload of 2.6 KB: 2.9 µs against 10.8 µs; an outbox row's
    headers: 1.0 µs against 4.5 µs). The text is compact UTF-8 where `json.dumps` adds spaces and `\\u` escapes;
    jsonb stores the parsed value, so what a query reads back is the same. pydantic-core stops at 254 levels of
    nesting, which a stored webhook body may exceed: those go through `json.dumps`, as every value did before."""
    try:
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value)


def json_value(text_: str | bytes) -> Any:
    """A JSON column's text from the database → its value: pydantic-core's parser, the same values as `json.loads`
    for the valid JSON a database returns, in about half its time (2.6 KB: 4.7 µs against 8.8 µs). Its recursion
    limit is lower than `json.loads`' (a document nested ~200 deep): such a document is parsed by `json.loads`."""
    try:
        return pydantic_core.from_json(text_)
    except ValueError:
        return json.loads(text_)


def create_engine(url: str, *, schema: str | None = None, pool_size: int | None = None, echo: bool = False,
                  pool_timeout_s: float = POOL_TIMEOUT_S, ping_idle_after_s: float = PING_IDLE_AFTER_S,
                  session_check_timeout_s: float = SESSION_CHECK_TIMEOUT_S,
                  toast_compression: ToastCompression = TOAST_COMPRESSION) -> AsyncEngine:
    """PostgreSQL: every connection's search_path is the service's schema (`set_search_path_on_connect`; no TLS
    on loopback, see `tls_needless`), its large values are compressed with lz4 unless `toast_compression` is
    "server" (`compress_toast_with_lz4_on_connect`); the first connection checks that the database keeps sessions
    (`require_session_on_first_connect`: no transaction pooler); a checkout waits at most `pool_timeout_s` for
    a free connection, then raises `sqlalchemy.exc.TimeoutError` (answered 503 + Retry-After by servicekit.web.http);
    connections idle for `ping_idle_after_s` are pinged before use (`ping_idle_connections`). The pool keeps
    `pool_size` connections (None: `POOL_SIZE`) and never opens extra ones: QueuePool's "overflow" connections
    are closed again on return whenever the pool is full, so under sustained concurrency every request paid a
    new connection (measured on the read API at 32 concurrent clients: 942 sessions opened in a few seconds,
    peak req/s −30 %). SQLite: WAL, busy timeout."""
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_text, "json_deserializer": json_value}
    if is_postgres(url):
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args: dict[str, Any] = {"ssl": False} if tls_needless(url) else {}
        kwargs.update(pool_size=pool_size or POOL_SIZE, max_overflow=0, pool_timeout=pool_timeout_s,
                      connect_args=connect_args)
        pg_engine = create_async_engine(url, **kwargs)
        if schema:
            set_search_path_on_connect(pg_engine, schema)
        if toast_compression == "lz4":
            compress_toast_with_lz4_on_connect(pg_engine)
        # Registered last and inserted first: the check runs before the search_path and SQLAlchemy's set-up.
        require_session_on_first_connect(pg_engine, connect_args, timeout_s=session_check_timeout_s)
        ping_idle_connections(pg_engine, idle_after_s=ping_idle_after_s)
        trace_engine(pg_engine)
        return pg_engine
    kwargs["pool_pre_ping"] = True
    kwargs["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    trace_engine(engine)
    return engine


def service_engine(settings: ServiceSettings, *, pool_size: int | None = None) -> AsyncEngine:
    """The engine of a service's settings: its database, its schema on PostgreSQL, its pool timeout and its
    compression of large values; `pool_size` as `create_engine` takes it."""
    url = settings.resolved_database_url()
    return create_engine(url, schema=settings.resolved_schema() if is_postgres(url) else None, pool_size=pool_size,
                         pool_timeout_s=settings.db_pool_timeout_s, toast_compression=settings.db_toast_compression)


async def ensure_schema(url: str, schema: str) -> None:
    """Creates the service's PostgreSQL schema if missing (no-op on SQLite)."""
    if not is_postgres(url):
        return
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        await engine.dispose()


async def drop_schema(url: str, schema: str) -> None:
    if not is_postgres(url):
        return
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
