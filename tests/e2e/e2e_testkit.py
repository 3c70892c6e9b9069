"""Helpers of the end-to-end tests: the whole system as separate processes (every service's API, consumers and relay, the simulator, the demo
sites, the dashboard and the gateway) on the real broker and PostgreSQL, reached through the gateway."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from outreach_local.system import SERVICES, LocalSystem, SystemConfig
from servicekit.process.db import drop_schema
from servicekit.testing import forget_topics_at_session_end


@dataclass
class E2E:
    system: LocalSystem
    api: httpx.AsyncClient
    sim: httpx.AsyncClient
    schemas: dict[str, str]

    @property
    def config(self) -> SystemConfig:
        return self.system.config


@contextlib.contextmanager
def system_running(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, postgres_url: str,
                   extra_env: dict[str, str] | None = None, **overrides: object
                   ) -> Iterator[tuple[LocalSystem, dict[str, str]]]:
    """Every process of the system on fresh schemas and topics; `extra_env` goes to every process, `overrides`
    to the `SystemConfig`."""
    run_id = uuid.uuid4().hex[:8]
    schemas = {svc: f"e2e_{run_id}_{svc}" for svc in SERVICES}
    settings: dict[str, object] = {
        "simulator_tick_s": None,  # the test ticks the send loop itself
        "simulator_rate": 50.0,
        **overrides,
    }
    config = SystemConfig.ephemeral(
        Path(tmp_path_factory.mktemp("system")), kafka_bootstrap, postgres_url,
        extra_env={**{f"{svc.upper()}_DB_SCHEMA": schema for svc, schema in schemas.items()}, **(extra_env or {})},
        **settings,
    )
    forget_topics_at_session_end(config.topic_prefix)
    system = LocalSystem(config)
    system.start()
    try:
        yield system, schemas
    finally:
        system.stop()
        import asyncio

        for schema in schemas.values():
            asyncio.run(drop_schema(postgres_url, schema))


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, postgres_url: str
                   ) -> Iterator[tuple[LocalSystem, dict[str, str]]]:
    with system_running(tmp_path_factory, kafka_bootstrap, postgres_url) as running:
        yield running


@pytest.fixture
async def e2e(running_system: tuple[LocalSystem, dict[str, str]]) -> AsyncIterator[E2E]:
    system, schemas = running_system
    async with httpx.AsyncClient(base_url=system.config.gateway_url, headers={"X-API-Key": system.config.api_key},
                                 timeout=30, trust_env=False) as api, \
            httpx.AsyncClient(base_url=system.config.simulator_url, timeout=30, trust_env=False) as sim:
        yield E2E(system, api, sim, schemas)
