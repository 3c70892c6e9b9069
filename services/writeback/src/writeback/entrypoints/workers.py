"""Running the consumers together with the delivery worker (which belongs with them: both apply events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from servicekit.runtime import run_consumers_until_stopped, run_relay_until_stopped, stop_event_on_signals
from servicekit.worker_health import WorkerHealthServer, readiness_checks, start_worker_health
from writeback.bootstrap import WritebackService

log = logging.getLogger(__name__)


async def run_workers(service: WritebackService, stop: asyncio.Event, *, consumers: bool, relay: bool) -> None:
    tasks: dict[str, asyncio.Task[None]] = {}
    if consumers:
        tasks["consumers"] = asyncio.create_task(run_consumers_until_stopped(service.runtime, stop))
        tasks["delivery"] = asyncio.create_task(service.delivery.run(stop))
    if relay:
        tasks["relay"] = asyncio.create_task(run_relay_until_stopped(service.runtime, stop))
    runtime = service.runtime
    health: WorkerHealthServer | None = None
    try:
        health = await start_worker_health(runtime.settings, tasks,
                                           readiness_checks(runtime.engine, runtime.settings), stop)
        await asyncio.gather(*tasks.values())
    finally:
        if health is not None:
            await health.aclose()
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def serve(service: WritebackService, *, consumers: bool, relay: bool) -> None:
    """Migrate, then run until SIGTERM/SIGINT (the kit's serve_worker plus the delivery worker), with the
    health endpoints when `WRITEBACK_WORKER_HEALTH_PORT` is set."""
    await service.runtime.migrate()
    stop = stop_event_on_signals()
    log.info("writeback worker started", extra={"fields": {"consumers": consumers, "relay": relay}})
    try:
        await run_workers(service, stop, consumers=consumers, relay=relay)
    finally:
        aclose = getattr(service.plusvibe, "aclose", None)
        if aclose is not None:
            await aclose()
        await service.runtime.dispose()
