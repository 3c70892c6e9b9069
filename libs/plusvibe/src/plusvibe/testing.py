"""Test helpers: run the simulator on 127.0.0.1:<free port> with uvicorn in a background thread.

    with running_simulator() as (base_url, state):
        settings = PlusVibeSettings(base_url=base_url, api_key=state.api_key, workspace_id=wid)

``base_url`` already ends in ``/api/v1``; the control API is at ``root_url(base_url) + "/_sim"``.
Real sockets (unlike ``httpx.ASGITransport``) let dropped connections and trickled bodies happen.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.app import API_PREFIX, create_app
from plusvibe.simulator.state import SimulatorState


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def root_url(base_url: str) -> str:
    return base_url.removesuffix(API_PREFIX)


@contextlib.contextmanager
def running_simulator(
    state: SimulatorState | None = None,
    *,
    seed: str | None = "demo",
    tick_seconds: float | None = None,
    startup_timeout_s: float = 10.0,
) -> Iterator[tuple[str, SimulatorState]]:
    """Yield ``(base_url, state)`` of a simulator served over real HTTP on loopback."""
    sim = state or SimulatorState()
    if seed and not sim.workspaces:
        sim.seed(seed)
    app = create_app(sim, tick_seconds=tick_seconds)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"plusvibe-sim-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("simulator did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{API_PREFIX}", sim
    finally:
        server.should_exit = True
        thread.join(timeout=10)


FAST_RATE = 200.0  # tests that are not about rate limiting lift the 5/s limit


@dataclass
class Sim:
    """A running simulator plus the demo seed ids; ``settings()`` builds a client config for it."""

    base_url: str
    state: SimulatorState
    workspace_id: str
    campaigns: dict[str, str]

    @property
    def control(self) -> str:
        return root_url(self.base_url) + "/_sim"

    def settings(self, **overrides: Any) -> PlusVibeSettings:
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": self.state.api_key,
            "workspace_id": self.workspace_id,
            "requests_per_second": FAST_RATE,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
            "backoff_jitter_s": 0.01,
            "total_deadline_s": 10.0,
        }
        values.update(overrides)
        return PlusVibeSettings(**values)


def fresh_sim(
    server: tuple[str, SimulatorState],
    *,
    rate: float = FAST_RATE,
    unibox_page_size: int | None = None,
    custom_storage: str | None = None,
    judge_all_variants: bool | None = None,
) -> Sim:
    """Resets a running simulator (and the process's shared limiters) and re-seeds the demo workspace:
    the per-test step of every test tree that shares one simulator per module. The storage rule and judge
    mode are settings, kept across resets unless given here."""
    from plusvibe.limits import reset_registry

    base_url, state = server
    reset_registry()
    state.reset()
    state.rate_limit_per_s = rate
    if unibox_page_size is not None:
        state.unibox_page_size = unibox_page_size
    if custom_storage is not None or judge_all_variants is not None:
        state.configure(
            {
                k: v
                for k, v in (("custom_storage", custom_storage), ("judge_all_variants", judge_all_variants))
                if v is not None
            }
        )
    seeded = state.seed("demo")
    return Sim(base_url, state, seeded["workspace_id"], seeded["campaigns"])
