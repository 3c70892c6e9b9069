"""`python -m audits.entrypoints.consumers`: the AuditRequested consumer and the audit worker (registered by the
bootstrap)."""

from audits.bootstrap import bootstrap
from servicekit.process.worker_main import run_worker


def main() -> None:
    run_worker(bootstrap(configure_logs=True).runtime, "consumers")


if __name__ == "__main__":
    main()
