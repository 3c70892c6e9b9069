"""`python -m leads.entrypoints.consumers`: the leads consumers (audit, writeback and email-activity events) and
the service's own loops (`LeadsService.loops`: the check of campaigns edited after enrolment)."""

import asyncio

from leads.bootstrap import bootstrap
from servicekit.runtime import serve_worker


def main() -> None:
    service = bootstrap(configure_logs=True)
    asyncio.run(serve_worker(service.runtime, consumers=True, relay=False, extra_loops=service.loops()))


if __name__ == "__main__":
    main()
