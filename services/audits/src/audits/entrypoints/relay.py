"""`python -m audits.entrypoints.relay`: publishes the audits outbox."""

import asyncio

from audits.bootstrap import bootstrap
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import serve_worker


def main() -> None:
    runtime = bootstrap(configure_logs=True).runtime
    size_pool(runtime, "relay")
    asyncio.run(checked(runtime, serve_worker(runtime, consumers=False, relay=True)))


if __name__ == "__main__":
    main()
