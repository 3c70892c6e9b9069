"""`python -m leads.entrypoints.consumers`: the leads consumers (audit, writeback and email-activity events)."""

import asyncio

from leads.bootstrap import bootstrap
from servicekit.runtime import serve_worker


def main() -> None:
    asyncio.run(serve_worker(bootstrap(configure_logs=True).runtime, consumers=True, relay=False))


if __name__ == "__main__":
    main()
