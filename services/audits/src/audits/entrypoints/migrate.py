"""`python -m audits.entrypoints.migrate [--wait]`: the audits schema's migrations as their own step (servicekit.process.migrate_cli)."""

import asyncio
import sys

from audits.bootstrap import bootstrap
from servicekit.process.migrate_cli import migrate_main


def main() -> None:
    sys.exit(asyncio.run(migrate_main(bootstrap(configure_logs=True).runtime, sys.argv[1:])))


if __name__ == "__main__":
    main()
