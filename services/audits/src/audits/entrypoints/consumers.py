"""`python -m audits.entrypoints.consumers`: the AuditRequested consumer and the audit worker."""

import asyncio

from audits.bootstrap import AuditsService, bootstrap, serve_consumers
from servicekit.pooling import checked, size_pool

# The audit worker holds a connection only to claim runs (one poll at a time) and to record an outcome (a short
# transaction when an audit ends, never during the audit): one for each; an outcome finishing at the same
# moment as another waits milliseconds for the pool, and its recording retries if it ever waits out the timeout.
AUDIT_WORKER_CONNECTIONS = 2


def loop_connections(service: AuditsService) -> int:
    """Database connections the service's own loop (the audit worker) holds at most at once."""
    return AUDIT_WORKER_CONNECTIONS


def main() -> None:
    service = bootstrap(configure_logs=True)
    size_pool(service.runtime, "consumers", loop_connections=loop_connections(service))
    asyncio.run(checked(service.runtime, serve_consumers(service)))


if __name__ == "__main__":
    main()
