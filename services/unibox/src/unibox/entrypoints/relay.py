"""Relay process: publishes the unibox outbox."""

from __future__ import annotations

import asyncio

from servicekit.runtime import serve_worker
from unibox.bootstrap import bootstrap


def main() -> None:
    asyncio.run(serve_worker(bootstrap(configure_logs=True).runtime, consumers=False, relay=True))


if __name__ == "__main__":
    main()
