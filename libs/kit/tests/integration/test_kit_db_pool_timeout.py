"""Pool exhaustion fails fast: a checkout waits `pool_timeout_s`, not 30 s, and the API answers 503 with
Retry-After instead of a 500."""

from __future__ import annotations

import contextlib
import time

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from servicekit.process.db import create_engine
from servicekit.process.settings import ServiceSettings
from servicekit.testing import Database
from servicekit.web.http import install_error_handlers


def test_pool_timeout_setting_defaults_to_a_few_seconds() -> None:
    assert ServiceSettings().db_pool_timeout_s == 3.0


async def test_exhausted_pool_refuses_within_the_timeout_with_503_and_retry_after(pg_database: Database) -> None:
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=2, pool_timeout_s=0.3)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/read")
    async def read() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"one": int((await conn.execute(text("SELECT 1"))).scalar_one())}

    try:
        async with contextlib.AsyncExitStack() as held, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
            assert (await client.get("/read")).json() == {"one": 1}
            for _ in range(2):  # pool_size 2, no overflow: every connection is busy
                await held.enter_async_context(engine.connect())
            started = time.monotonic()
            refused = await client.get("/read")
            waited = time.monotonic() - started
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["reason"] == "database_busy"
            assert 0.25 <= waited < 2.0
        async with engine.connect() as conn:  # released connections serve again
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_checkout_raises_pool_timeout_error_after_pool_timeout(pg_database: Database) -> None:
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=2, pool_timeout_s=0.2)
    try:
        async with engine.connect(), engine.connect():
            started = time.monotonic()
            try:
                async with engine.connect():
                    raise AssertionError("a third connection was handed out")
            except PoolTimeoutError:
                assert time.monotonic() - started < 1.5
    finally:
        await engine.dispose()
