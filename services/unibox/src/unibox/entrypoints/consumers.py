"""Consumers process: the LeadUpserted projection consumer plus the periodic jobs (opens poller, webhook sweeper)."""

from __future__ import annotations

import asyncio

from servicekit.runtime import run_consumers_until_stopped, stop_event_on_signals
from servicekit.worker_health import WorkerHealthServer, readiness_checks, start_worker_health
from unibox.bootstrap import bootstrap
from unibox.entrypoints.periodic import run_jobs


async def serve() -> None:
    service = bootstrap(configure_logs=True)
    runtime = service.runtime
    await runtime.migrate()
    stop = stop_event_on_signals()
    tasks = {"consumers": asyncio.create_task(run_consumers_until_stopped(runtime, stop)),
             "periodic-jobs": asyncio.create_task(run_jobs(service, stop))}
    health: WorkerHealthServer | None = None
    try:
        health = await start_worker_health(runtime.settings, tasks,
                                           readiness_checks(runtime.engine, runtime.settings), stop)
        await asyncio.gather(*tasks.values())
    finally:
        if health is not None:
            await health.aclose()
        await service.aclose()
        await runtime.dispose()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
