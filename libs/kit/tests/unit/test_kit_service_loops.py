"""A service's own loops have one home: registered on the runtime by the bootstrap, they run beside the consumers
in the consumers process and in an API with embedded workers alike, count in the consumers' pool, and stop with
the process; the clients a bootstrap registers are closed when the runtime is disposed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from servicekit.messaging.uow import UnitOfWork
from servicekit.process.pooling import size_pool
from servicekit.process.runtime import ServiceRuntime, kit_loops, run_every
from servicekit.process.settings import ServiceSettings
from servicekit.web.http import create_service_app


def _runtime(tmp_path: Path) -> ServiceRuntime[UnitOfWork]:
    settings = ServiceSettings(data_dir=tmp_path, log_json=False, kafka_bootstrap_servers="127.0.0.1:9")
    return ServiceRuntime.create(settings, UnitOfWork, migrations=None)


class Recorder:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()

    async def __call__(self, stop: asyncio.Event) -> None:
        self.started.set()
        await stop.wait()
        self.stopped.set()


async def test_loops_are_registered_once_and_counted_in_the_consumers_pool(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    runtime.add_loop("worker", Recorder(), connections=2)
    runtime.add_loop("jobs", Recorder(), connections=3)
    for taken in ("worker", "consumers", "relay"):
        with pytest.raises(ValueError, match="already registered"):
            runtime.add_loop(taken, Recorder(), connections=1)
    assert runtime.loop_connections() == 5
    assert size_pool(runtime, "consumers") == size_pool(runtime, "consumers", loop_connections=5)
    assert size_pool(runtime, "consumers") > size_pool(runtime, "consumers", loop_connections=0)
    assert set(kit_loops(runtime, consumers=True, relay=False)) == {"consumers", "worker", "jobs"}
    assert set(kit_loops(runtime, consumers=False, relay=True)) == {"relay"}  # the relay process runs no loop
    await runtime.dispose()


@pytest.mark.parametrize("embedded", [True, False])
async def test_an_api_with_embedded_workers_runs_the_loops_and_stops_them(tmp_path: Path, embedded: bool,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import servicekit.process.runtime as runtime_module

    async def no_relay(runtime: object, stop: asyncio.Event) -> None:
        await stop.wait()

    monkeypatch.setattr(runtime_module, "run_relay_until_stopped", no_relay)  # no broker here
    runtime = _runtime(tmp_path)
    loop = Recorder()
    runtime.add_loop("worker", loop, connections=1)
    app = create_service_app(runtime, title="t", routers=[], embedded_workers=embedded, check_broker=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/health/live")).status_code == 200
        if embedded:
            await asyncio.wait_for(loop.started.wait(), 5)
        else:
            await asyncio.sleep(0.1)
            assert not loop.started.is_set()
    assert loop.stopped.is_set() == embedded


async def test_dispose_closes_the_registered_clients_last_first_even_when_one_fails(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    closed: list[str] = []

    def closer(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def close() -> None:
            closed.append(name)
            if fail:
                raise RuntimeError("cannot close")
        return close

    runtime.add_closer(closer("first"))
    runtime.add_closer(closer("second", fail=True))
    runtime.add_closer(closer("third"))
    await runtime.dispose()
    assert closed == ["third", "second", "first"]
    await runtime.dispose()  # once only
    assert closed == ["third", "second", "first"]


async def test_a_periodic_job_still_running_at_stop_is_cancelled_promptly() -> None:
    stop = asyncio.Event()
    runs: list[float] = []
    cancelled = asyncio.Event()

    async def slow_job() -> None:
        runs.append(time.monotonic())
        try:
            await asyncio.sleep(60)  # e.g. a dependency's retries
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(run_every(0.01, slow_job, stop, "slow"))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 1 and cancelled.is_set() and len(runs) == 1


async def test_a_failing_periodic_job_is_logged_and_run_again(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = 0

    async def failing() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            stop.set()
        raise ValueError("boom")

    await asyncio.wait_for(run_every(0.01, failing, stop, "failing"), 5)
    assert runs == 3
    assert sum("periodic job failing failed" in r.getMessage() for r in caplog.records) == 3
