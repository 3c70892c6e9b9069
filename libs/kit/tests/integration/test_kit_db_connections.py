"""The engine's PostgreSQL connections: the service's schema on the search path, and no TLS on loopback
(`servicekit.process.db.tls_needless`) while a URL that asks for TLS gets it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.process.db import create_engine
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]


async def _backend(url: str, schema: str) -> tuple[bool | None, str]:
    engine = create_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            ssl = (await conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))).scalar()
            path = (await conn.execute(text("SHOW search_path"))).scalar_one()
    finally:
        await engine.dispose()
    return ssl, str(path)


async def test_loopback_connections_skip_tls_and_use_the_service_schema(pg_database: Database) -> None:
    if make_url(pg_database.url).host not in ("127.0.0.1", "localhost", "::1"):
        pytest.fail("this test needs the suite's loopback PostgreSQL (TEST_DATABASE_URL on 127.0.0.1)")
    ssl, path = await _backend(pg_database.url, pg_database.schema)
    assert ssl is False
    assert path == pg_database.schema


async def test_a_url_that_asks_for_tls_keeps_it(pg_database: Database) -> None:
    async with create_engine(pg_database.url).connect() as conn:
        server_ssl = (await conn.execute(text("SHOW ssl"))).scalar_one()
    url = pg_database.url + ("&" if "?" in pg_database.url else "?") + "ssl=require"
    if server_ssl == "on":  # Debian's cluster offers TLS (its snakeoil certificate)
        ssl, _ = await _backend(url, pg_database.schema)
        assert ssl is True
    else:  # a server without TLS must refuse, not silently downgrade
        with pytest.raises(Exception, match=r"(?i)ssl"):
            await _backend(url, pg_database.schema)


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_that_died_while_idle_is_replaced_without_an_error(pg_database: Database) -> None:
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1, ping_idle_after_s=0.2)
    admin = create_engine(pg_database.url)
    try:
        first = await _pid(engine)
        async with admin.connect() as conn:  # e.g. a database restart or an idle timeout on the server
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.3)
        second = await _pid(engine)  # pinged (idle ≥ 0.2 s), found dead, replaced: no error reaches the caller
    finally:
        await engine.dispose()
        await admin.dispose()
    assert second != first


async def test_a_connection_in_steady_use_is_not_pinged(pg_database: Database,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

    pings = 0
    real_ping = sa_asyncpg.AsyncAdapt_asyncpg_connection.ping

    def counting_ping(self: Any) -> None:
        nonlocal pings
        pings += 1
        real_ping(self)

    monkeypatch.setattr(sa_asyncpg.AsyncAdapt_asyncpg_connection, "ping", counting_ping)
    busy = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1, ping_idle_after_s=60)
    idle = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1, ping_idle_after_s=0)
    try:
        for _ in range(5):
            await _pid(busy)
        busy_pings = pings
        for _ in range(5):
            await _pid(idle)
    finally:
        await busy.dispose()
        await idle.dispose()
    assert busy_pings == 0  # three round trips saved on every checkout
    assert pings - busy_pings == 5  # idle ≥ 0 s: every checkout is checked


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_one_of_selects_the_given_values_with_one_statement_text(backend: str, pg_database: Database,
                                                                       sqlite_database: Database) -> None:
    import uuid
    from datetime import UTC, datetime

    from sqlalchemy import insert, select
    from sqlalchemy.dialects import postgresql

    from servicekit.process.db import one_of
    from servicekit.process.tables import inbox, kit_metadata

    db = pg_database if backend == "postgresql" else sqlite_database
    engine = create_engine(db.url, schema=db.schema if backend == "postgresql" else None)
    ids = [uuid.uuid4() for _ in range(5)]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
            await conn.execute(insert(inbox), [{"consumer_group": "g", "event_id": i, "event_type": "X",
                                                "processed_at": datetime.now(UTC)} for i in ids])
            found = {row[0] for row in await conn.execute(
                select(inbox.c.event_id).where(one_of(inbox.c.event_id, ids[1:4], conn.dialect.name)))}
            none = (await conn.execute(
                select(inbox.c.event_id).where(one_of(inbox.c.event_id, [], conn.dialect.name)))).all()
    finally:
        await engine.dispose()
    assert found == set(ids[1:4])
    assert none == []
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]

    def sql(n: int) -> str:
        stmt = select(inbox.c.event_id).where(one_of(inbox.c.event_id, ids[:n], "postgresql"))
        return str(stmt.compile(dialect=pg))

    assert sql(1) == sql(5)  # one prepared statement for every batch size
