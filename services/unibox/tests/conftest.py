"""Fixtures for the unibox tests: a simulator on loopback, an in-process app."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator
from unibox.bootstrap import UniboxService, bootstrap
from unibox.entrypoints.http import create_app
from unibox.settings import UniboxSettings

sys.path.insert(0, str(Path(__file__).parent))  # makes `unibox_testkit` importable

@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[str, SimulatorState]]:
    with running_simulator(SimulatorState(api_key="unibox-test-pv-key"), seed=None) as running:
        yield running


@pytest.fixture
def sim(sim_server: tuple[str, SimulatorState]) -> Sim:
    return fresh_sim(sim_server, unibox_page_size=20)


AppFactory = Callable[..., Any]


@pytest.fixture
def running_app() -> Callable[..., Any]:
    """`async with running_app(settings, plusvibe=..., plusvibe_ports=..., plusvibe_settings=...,
    embedded_workers=...) as (app, http, service)`."""

    @asynccontextmanager
    async def run(settings: UniboxSettings, *, plusvibe: Any = None, plusvibe_ports: Any = None,
                  plusvibe_settings: PlusVibeSettings | None = None,
                  embedded_workers: bool = False) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, UniboxService]]:
        service = bootstrap(settings, plusvibe=plusvibe, plusvibe_ports=plusvibe_ports,
                            plusvibe_settings=plusvibe_settings)
        app = create_app(service=service, embedded_workers=embedded_workers)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                        base_url="http://svc") as http:
            yield app, http, service

    return run
