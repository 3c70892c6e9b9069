"""`python -m leads.entrypoints.relay`: publishes the leads outbox."""

from leads.bootstrap import bootstrap
from servicekit.process.worker_main import run_worker


def main() -> None:
    run_worker(bootstrap(configure_logs=True).runtime, "relay")


if __name__ == "__main__":
    main()
