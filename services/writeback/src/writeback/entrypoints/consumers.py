"""`python -m writeback.entrypoints.consumers`: the event consumers and the PlusVibe delivery worker (registered by
the bootstrap)."""

from __future__ import annotations

from servicekit.process.event_loop import run
from servicekit.process.logging import configure_logging
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import serve_worker
from writeback.bootstrap import bootstrap


def main() -> None:
    service = bootstrap()
    s = service.settings
    configure_logging(s.service_name, s.log_level, json_output=s.log_json)
    size_pool(service.runtime, "consumers")
    run(checked(service.runtime, serve_worker(service.runtime, consumers=True, relay=False)),
        loop=service.runtime.settings.event_loop)


if __name__ == "__main__":
    main()
