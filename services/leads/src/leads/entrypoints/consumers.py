"""`python -m leads.entrypoints.consumers`: the leads consumers (audit, writeback and email-activity events) and
the service's own loops the bootstrap registered (the check of campaigns edited after enrolment)."""

import asyncio

from leads.bootstrap import bootstrap
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import serve_worker


def main() -> None:
    service = bootstrap(configure_logs=True)
    size_pool(service.runtime, "consumers")
    asyncio.run(checked(service.runtime, serve_worker(service.runtime, consumers=True, relay=False)))


if __name__ == "__main__":
    main()
