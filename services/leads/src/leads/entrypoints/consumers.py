"""`python -m leads.entrypoints.consumers`: the leads consumers (audit, writeback and email-activity events) and
the service's own loops the bootstrap registered (the check of campaigns edited after enrolment)."""

from leads.bootstrap import bootstrap
from servicekit.process.worker_main import run_worker


def main() -> None:
    run_worker(bootstrap(configure_logs=True).runtime, "consumers")


if __name__ == "__main__":
    main()
