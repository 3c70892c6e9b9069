"""`python -m unibox.entrypoints.consumers`: the LeadUpserted projection consumer plus the periodic jobs (opens
poller, webhook sweeper), registered by the bootstrap."""

from __future__ import annotations

from servicekit.process.worker_main import run_worker
from unibox.bootstrap import bootstrap


def main() -> None:
    run_worker(bootstrap(configure_logs=True).runtime, "consumers")


if __name__ == "__main__":
    main()
