"""Running the consumers together with the delivery worker (which belongs with them: both apply events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from servicekit.runtime import run_consumers_until_stopped, run_relay_until_stopped, stop_event_on_signals
from writeback.bootstrap import WritebackService

log = logging.getLogger(__name__)


async def run_workers(service: WritebackService, stop: asyncio.Event, *, consumers: bool, relay: bool) -> None:
    tasks = []
    if consumers:
        tasks.append(asyncio.create_task(run_consumers_until_stopped(service.runtime, stop)))
        tasks.append(asyncio.create_task(service.delivery.run(stop)))
    if relay:
        tasks.append(asyncio.create_task(run_relay_until_stopped(service.runtime, stop)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def serve(service: WritebackService, *, consumers: bool, relay: bool) -> None:
    """Migrate, then run until SIGTERM/SIGINT (the kit's serve_worker plus the delivery worker)."""
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
