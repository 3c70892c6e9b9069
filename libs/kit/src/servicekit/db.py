"""Async SQLAlchemy engines for PostgreSQL (one schema per service) and the embedded SQLite default."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, DateTime, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator

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


POOL_SIZE = 20  # the default of `ServiceSettings.db_pool_size`
POOL_TIMEOUT_S = 3.0  # the default of `ServiceSettings.db_pool_timeout_s`
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


def create_engine(url: str, *, schema: str | None = None, pool_size: int = POOL_SIZE, echo: bool = False,
                  pool_timeout_s: float = POOL_TIMEOUT_S, ping_idle_after_s: float = PING_IDLE_AFTER_S
                  ) -> AsyncEngine:
    """PostgreSQL: every connection's search_path is the service's schema (no TLS on loopback, see
    `tls_needless`); a checkout waits at most `pool_timeout_s` for a free connection, then raises
    `sqlalchemy.exc.TimeoutError` (answered 503 + Retry-After by servicekit.http); connections idle for
    `ping_idle_after_s` are pinged before use (`ping_idle_connections`). The pool keeps `pool_size` connections
    and never opens extra ones: QueuePool's "overflow" connections are closed again on return whenever the
    pool is full, so under sustained concurrency every request paid a new connection (measured on the read
    API at 32 concurrent clients: 942 sessions opened in a few seconds, peak req/s −30 %). SQLite: WAL,
    busy timeout."""
    kwargs: dict[str, Any] = {"echo": echo}
    if is_postgres(url):
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args: dict[str, Any] = {"ssl": False} if tls_needless(url) else {}
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout_s,
                      connect_args=connect_args)
        pg_engine = create_async_engine(url, **kwargs)
        ping_idle_connections(pg_engine, idle_after_s=ping_idle_after_s)
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

    return engine


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
