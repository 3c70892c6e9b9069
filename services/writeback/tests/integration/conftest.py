"""Writeback on the real broker and PostgreSQL, with the PlusVibe simulator on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from writeback_testkit import TOPICS, ServiceRunner

from outreach_ops.topic_admin import ensure_topics
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator
from servicekit.process.runtime import kit_loops, run_loops
from servicekit.testing import Database
from writeback.bootstrap import WritebackService, bootstrap
from writeback.settings import WritebackSettings


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[str, SimulatorState]]:
    with running_simulator(SimulatorState(api_key="writeback-test-key"), seed=None) as running:
        yield running


@pytest.fixture
def sim(sim_server: tuple[str, SimulatorState]) -> Sim:
    return fresh_sim(sim_server)


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> str:
    await ensure_topics(kafka_bootstrap, TOPICS, prefix=topic_prefix)
    return topic_prefix


@pytest.fixture
def run_service(pg_database: Database, kafka_bootstrap: str, topics: str, sim: Sim) -> ServiceRunner:
    """`async with run_service(**settings) as svc:` consumers + delivery worker + relay in this process."""

    @contextlib.asynccontextmanager
    async def run(plusvibe: dict[str, Any] | None = None, **overrides: Any) -> AsyncIterator[WritebackService]:
        settings = WritebackSettings(database_url=pg_database.url, db_schema=pg_database.schema,  # type: ignore[arg-type]
                                     kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topics,
                                     log_json=False, **overrides)
        svc = bootstrap(settings, plusvibe_settings=sim.settings(**(plusvibe or {})))
        await svc.runtime.migrate()
        stop = asyncio.Event()
        task = asyncio.create_task(run_loops(svc.runtime, stop, kit_loops(svc.runtime, consumers=True, relay=True)))
        try:
            yield svc
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await svc.runtime.dispose()  # closes the PlusVibe client the bootstrap built

    return run
