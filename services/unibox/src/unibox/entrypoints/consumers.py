"""Consumers process: the LeadUpserted projection consumer plus the periodic jobs (opens poller, webhook sweeper)."""

from __future__ import annotations

import asyncio

from servicekit.runtime import run_consumers_until_stopped, stop_event_on_signals
from unibox.bootstrap import bootstrap
from unibox.entrypoints.periodic import run_jobs


async def serve() -> None:
    service = bootstrap(configure_logs=True)
    runtime = service.runtime
    await runtime.migrate()
    stop = stop_event_on_signals()
    try:
        await asyncio.gather(run_consumers_until_stopped(runtime, stop), run_jobs(service, stop))
    finally:
        await service.aclose()
        await runtime.dispose()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
