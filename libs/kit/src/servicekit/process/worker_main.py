"""The whole start of a worker process, one call for every service's `consumers` and `relay` entrypoint:

    def main() -> None:
        run_worker(bootstrap(configure_logs=True).runtime, "consumers")

In order: the pool of the process type (`pooling.size_pool`, before anything connects), then on the loop the
service's `event_loop` setting names (`event_loop.run`: uvloop unless `<SVC>_EVENT_LOOP=asyncio`) the database's
session check (`pooling.checked`) and the worker's body (`runtime.serve_worker`) until SIGTERM.
"""

from __future__ import annotations

from typing import Any, Literal

from servicekit.process.event_loop import run
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import ServiceRuntime, serve_worker

WorkerProcess = Literal["consumers", "relay"]


def run_worker(runtime: ServiceRuntime[Any], process: WorkerProcess) -> None:
    """Sizes the pool for `process`, then runs that worker (the consumers with the service's own loops, or the
    outbox relay) on the configured event loop until it stops."""
    size_pool(runtime, process)
    main = serve_worker(runtime, consumers=process == "consumers", relay=process == "relay")
    run(checked(runtime, main), loop=runtime.settings.event_loop)
