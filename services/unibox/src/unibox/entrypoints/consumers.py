"""Consumers process: the LeadUpserted projection consumer plus the periodic jobs (opens poller, webhook sweeper)."""

from __future__ import annotations

import asyncio

from servicekit.runtime import serve_worker
from unibox.bootstrap import bootstrap
from unibox.entrypoints.periodic import run_jobs


async def serve() -> None:
    service = bootstrap(configure_logs=True)
    await serve_worker(service.runtime, consumers=True, relay=False,
                       extra_loops={"periodic-jobs": lambda stop: run_jobs(service, stop)}, on_exit=service.aclose)


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
