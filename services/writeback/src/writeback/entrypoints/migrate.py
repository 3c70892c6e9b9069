"""`python -m writeback.entrypoints.migrate [--wait]`: the writeback schema's migrations as their own step (servicekit.process.migrate_cli)."""

import asyncio
import sys

from plusvibe.slots import ensure_table
from servicekit.process.migrate_cli import migrate_main
from writeback.bootstrap import bootstrap


async def plusvibe_slot_table(url: str, role: str | None) -> None:
    """The PlusVibe account slots every process of every service shares (plusvibe.slots)."""
    if url.startswith("postgres"):
        await ensure_table(url, grant_to=role)


def main() -> None:
    sys.exit(asyncio.run(migrate_main(bootstrap(configure_logs=True).runtime, sys.argv[1:], extra_steps=[plusvibe_slot_table])))


if __name__ == "__main__":
    main()
