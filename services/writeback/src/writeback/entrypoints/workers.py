"""Running the consumers together with the delivery worker (which belongs with them: both apply events)."""

from __future__ import annotations

import asyncio

from servicekit.runtime import Loop, kit_loops, run_loops, serve_worker
from writeback.bootstrap import WritebackService


def _delivery(service: WritebackService, *, consumers: bool) -> dict[str, Loop]:
    return {"delivery": service.delivery.run} if consumers else {}


async def run_workers(service: WritebackService, stop: asyncio.Event, *, consumers: bool, relay: bool) -> None:
    """The worker loops inside another process (the API's embedded workers, tests)."""
    loops = {**kit_loops(service.runtime, consumers=consumers, relay=relay), **_delivery(service, consumers=consumers)}
    await run_loops(service.runtime, stop, loops)


async def serve(service: WritebackService, *, consumers: bool, relay: bool) -> None:
    """Migrate, then run until SIGTERM/SIGINT: the kit's serve_worker plus the delivery worker."""

    async def close_plusvibe() -> None:
        aclose = getattr(service.plusvibe, "aclose", None)
        if aclose is not None:
            await aclose()

    await serve_worker(service.runtime, consumers=consumers, relay=relay,
                       extra_loops=_delivery(service, consumers=consumers), on_exit=close_plusvibe)
