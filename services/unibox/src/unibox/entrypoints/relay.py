"""Relay process: publishes the unibox outbox."""

from __future__ import annotations

from servicekit.process.worker_main import run_worker
from unibox.bootstrap import bootstrap


def main() -> None:
    run_worker(bootstrap(configure_logs=True).runtime, "relay")


if __name__ == "__main__":
    main()
