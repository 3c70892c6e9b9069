"""The counter service's tables in a fresh PostgreSQL schema (a test that needs a larger pool defines its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kit_apps.counter_service import create_tables
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.process.db import create_engine
from servicekit.testing import Database


@pytest.fixture
async def engine(pg_database: Database) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(pg_database.url, schema=pg_database.schema)
    await create_tables(eng)
    yield eng
    await eng.dispose()
