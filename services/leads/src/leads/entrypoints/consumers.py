"""`python -m leads.entrypoints.consumers`: the leads consumers (audit, writeback and email-activity events) and
the service's own loops (`LeadsService.loops`: the check of campaigns edited after enrolment)."""

import asyncio

from leads.bootstrap import LeadsService, bootstrap
from servicekit.pooling import checked, size_pool
from servicekit.runtime import serve_worker


def loop_connections(service: LeadsService) -> int:
    """Database connections the service's own loops hold at most at once: each runs one transaction at a time."""
    return len(service.loops())


def main() -> None:
    service = bootstrap(configure_logs=True)
    size_pool(service.runtime, "consumers", loop_connections=loop_connections(service))
    asyncio.run(checked(service.runtime, serve_worker(service.runtime, consumers=True, relay=False,
                                                      extra_loops=service.loops())))


if __name__ == "__main__":
    main()
