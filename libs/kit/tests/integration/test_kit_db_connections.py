"""The engine's PostgreSQL connections: the service's schema on the search path, and no TLS on loopback
(`servicekit.db.tls_needless`) while a URL that asks for TLS gets it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from servicekit.db import create_engine
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
