"""The kit's own Alembic history: the kit's tables (outbox, inbox: servicekit.process.tables) in every service's schema.

One history shared by every service, recorded per schema in its own version table `kit_alembic_version` (the
service's history keeps `alembic_version`). `servicekit.process.migrate.upgrade` runs it to its head, then the service's
history, in one transaction: at start-up (ServiceRuntime.migrate) and in the migration step
(`python -m <service>.entrypoints.migrate`, whose `--wait` also waits for this history's head).

A change of the kit tables is one revision here and none in a service: change `servicekit.process.tables`, then add
`versions/NNNN_<what>.py` revising the current head, with plain Alembic operations (`op.add_column("inbox", ...)`);
every service picks it up on its next upgrade. The first revision (`kit0001`) adopts the schemas made before this
history existed, when each service's own revisions created and changed the kit tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

KIT_MIGRATIONS = str(Path(__file__).parent)
KIT_VERSION_TABLE = "kit_alembic_version"


def upgrade_kit_tables(connection: Connection, *, script_location: str | None = None, revision: str = "head") -> None:
    """Upgrades the kit history on `connection` (in the caller's transaction); `script_location` replaces the
    kit's own history (a test's copy with an extra revision)."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location or KIT_MIGRATIONS)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
