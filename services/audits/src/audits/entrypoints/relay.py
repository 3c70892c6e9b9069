"""`python -m audits.entrypoints.relay`: publishes the audits outbox."""

import asyncio

from audits.bootstrap import bootstrap
from servicekit.runtime import serve_worker


def main() -> None:
    asyncio.run(serve_worker(bootstrap(configure_logs=True).runtime, consumers=False, relay=True))


if __name__ == "__main__":
    main()
