"""`python -m audits.entrypoints.consumers`: the AuditRequested consumer and the audit worker."""

import asyncio

from audits.bootstrap import bootstrap, serve_consumers


def main() -> None:
    asyncio.run(serve_consumers(bootstrap(configure_logs=True)))


if __name__ == "__main__":
    main()
