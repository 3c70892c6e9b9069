"""Async SQLAlchemy engines for PostgreSQL (one schema per service) and the embedded SQLite default."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
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


POOL_TIMEOUT_S = 3.0  # the default of `ServiceSettings.db_pool_timeout_s`


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 10, echo: bool = False,
                  pool_timeout_s: float = POOL_TIMEOUT_S) -> AsyncEngine:
    """PostgreSQL: every connection's search_path is the service's schema (no TLS on loopback, see
    `tls_needless`); a checkout waits at most `pool_timeout_s` for a free connection, then raises
    `sqlalchemy.exc.TimeoutError` (answered 503 + Retry-After by servicekit.http). SQLite: WAL, busy timeout."""
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if is_postgres(url):
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args: dict[str, Any] = {"ssl": False} if tls_needless(url) else {}
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=pool_timeout_s,
                      connect_args=connect_args)
        return create_async_engine(url, **kwargs)
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
