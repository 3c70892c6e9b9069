"""`run_worker`, the one call of every worker entrypoint: the process type picks what serve_worker runs, and the
service's `event_loop` setting picks the loop it runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servicekit.messaging.uow import UnitOfWork
from servicekit.process import worker_main
from servicekit.process.event_loop import running_loop_kind
from servicekit.process.runtime import ServiceRuntime
from servicekit.process.settings import ServiceSettings


@pytest.mark.parametrize(("process", "loop"), [("consumers", "uvloop"), ("relay", "uvloop"),
                                               ("consumers", "asyncio"), ("relay", "asyncio")])
def test_run_worker_serves_the_process_it_names_on_the_configured_loop(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, process: worker_main.WorkerProcess, loop: str) -> None:
    served: list[dict[str, Any]] = []

    async def serve_worker(runtime: ServiceRuntime[Any], *, consumers: bool, relay: bool) -> None:
        served.append({"runtime": runtime, "consumers": consumers, "relay": relay, "loop": running_loop_kind()})

    monkeypatch.setattr(worker_main, "serve_worker", serve_worker)
    runtime = ServiceRuntime.create(ServiceSettings(data_dir=tmp_path, log_json=False, event_loop=loop),
                                    UnitOfWork, migrations=None)
    worker_main.run_worker(runtime, process)
    assert served == [{"runtime": runtime, "consumers": process == "consumers", "relay": process == "relay",
                       "loop": loop}]
