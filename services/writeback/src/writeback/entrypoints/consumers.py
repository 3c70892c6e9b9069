"""`python -m writeback.entrypoints.consumers`: the event consumers and the PlusVibe delivery worker."""

from __future__ import annotations

import asyncio

from servicekit.logging import configure_logging
from writeback.bootstrap import bootstrap
from writeback.entrypoints.workers import serve


def main() -> None:
    service = bootstrap()
    s = service.settings
    configure_logging(s.service_name, s.log_level, json_output=s.log_json)
    asyncio.run(serve(service, consumers=True, relay=False))


if __name__ == "__main__":
    main()
