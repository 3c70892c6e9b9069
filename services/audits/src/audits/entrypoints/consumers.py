"""`python -m audits.entrypoints.consumers`: the AuditRequested consumer and the audit worker (registered by the
bootstrap)."""

from audits.bootstrap import bootstrap
from servicekit.process.event_loop import run
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import serve_worker


def main() -> None:
    service = bootstrap(configure_logs=True)
    size_pool(service.runtime, "consumers")
    run(checked(service.runtime, serve_worker(service.runtime, consumers=True, relay=False)),
        loop=service.runtime.settings.event_loop)


if __name__ == "__main__":
    main()
