"""`python -m writeback.entrypoints.consumers`: the event consumers and the PlusVibe delivery worker."""

from __future__ import annotations

import asyncio

from servicekit.logging import configure_logging
from servicekit.pooling import checked, size_pool
from writeback.bootstrap import WritebackService, bootstrap
from writeback.entrypoints.workers import serve


def loop_connections(service: WritebackService) -> int:
    """Database connections the delivery worker holds at most at once: each of its parallel sends claims and
    records in short transactions of their own (never during the PlusVibe call)."""
    return service.settings.delivery_concurrency


def main() -> None:
    service = bootstrap()
    s = service.settings
    configure_logging(s.service_name, s.log_level, json_output=s.log_json)
    size_pool(service.runtime, "consumers", loop_connections=loop_connections(service))
    asyncio.run(checked(service.runtime, serve(service, consumers=True, relay=False)))


if __name__ == "__main__":
    main()
