"""Fixtures of the poison tests (tests/poison). The broker and the database come from the kit's fixtures
(`kafka_bootstrap`, `postgres_url`, `topic_prefix`, registered by the root conftest); the services' consumers
processes are started by `poison_services.consumers_process`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from servicekit.testing import Database, fresh_schema


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
async def writeback_db(postgres_url: str) -> AsyncIterator[Database]:
    async with fresh_schema(postgres_url) as database:
        yield database


@pytest.fixture
async def unibox_db(postgres_url: str) -> AsyncIterator[Database]:
    async with fresh_schema(postgres_url) as database:
        yield database


@pytest.fixture
async def leads_db(postgres_url: str) -> AsyncIterator[Database]:
    async with fresh_schema(postgres_url) as database:
        yield database
