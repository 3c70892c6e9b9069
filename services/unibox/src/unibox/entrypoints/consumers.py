"""Consumers process: the LeadUpserted projection consumer plus the periodic jobs (opens poller, webhook sweeper)."""

from __future__ import annotations

import asyncio

from servicekit.pooling import checked, size_pool
from servicekit.runtime import serve_worker
from unibox.bootstrap import UniboxService, bootstrap
from unibox.entrypoints.periodic import run_jobs

# `run_jobs` runs the opens poller and the webhook sweeper side by side, one transaction at a time each.
PERIODIC_JOB_CONNECTIONS = 2


def loop_connections(service: UniboxService) -> int:
    """Database connections the service's own loop (the periodic jobs) holds at most at once."""
    return PERIODIC_JOB_CONNECTIONS


async def serve(service: UniboxService) -> None:
    await serve_worker(service.runtime, consumers=True, relay=False,
                       extra_loops={"periodic-jobs": lambda stop: run_jobs(service, stop)}, on_exit=service.aclose)


def main() -> None:
    service = bootstrap(configure_logs=True)
    size_pool(service.runtime, "consumers", loop_connections=loop_connections(service))
    asyncio.run(checked(service.runtime, serve(service)))


if __name__ == "__main__":
    main()
