"""Fixtures: one real uvicorn simulator on 127.0.0.1 per test module, reset and re-seeded per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from plusvibe.client import PlusVibeClient
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[str, SimulatorState]]:
    with running_simulator(SimulatorState(api_key="test-key-0001"), seed=None) as running:
        yield running


@pytest.fixture
def sim(sim_server: tuple[str, SimulatorState]) -> Sim:
    return fresh_sim(sim_server, unibox_page_size=20, custom_storage="verbatim", judge_all_variants=False)


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[PlusVibeClient]:
    async with PlusVibeClient(sim.settings()) as c:
        yield c


@pytest.fixture
def make_client(sim: Sim) -> Callable[..., PlusVibeClient]:
    def make(**overrides: Any) -> PlusVibeClient:
        return PlusVibeClient(sim.settings(**overrides))

    return make


@pytest.fixture
async def control(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.control, trust_env=False) as http:
        yield http
