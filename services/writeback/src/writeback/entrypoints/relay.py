"""`python -m writeback.entrypoints.relay`: publishes the outbox (WritebackCompleted/Failed)."""

from __future__ import annotations

from servicekit.process.logging import configure_logging
from servicekit.process.worker_main import run_worker
from writeback.bootstrap import bootstrap


def main() -> None:
    service = bootstrap()
    s = service.settings
    configure_logging(s.service_name, s.log_level, json_output=s.log_json)
    run_worker(service.runtime, "relay")


if __name__ == "__main__":
    main()
