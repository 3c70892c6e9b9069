"""`python -m leads.entrypoints.migrate [--wait]`: the leads schema's migrations as their own step
(servicekit.process.migrate_cli), and the PlusVibe account-slot table every process shares (plusvibe.slots)."""

import asyncio
import sys

from leads.bootstrap import bootstrap
from plusvibe.slots import migration_step as plusvibe_slot_table
from servicekit.process.migrate_cli import migrate_main


def main() -> None:
    runtime = bootstrap(configure_logs=True).runtime
    sys.exit(asyncio.run(migrate_main(runtime, sys.argv[1:], extra_steps=[plusvibe_slot_table])))


if __name__ == "__main__":
    main()
