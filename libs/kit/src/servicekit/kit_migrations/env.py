from alembic import context

from servicekit.kit_migrations import KIT_VERSION_TABLE
from servicekit.process.migrate import run_migrations
from servicekit.process.tables import kit_metadata

run_migrations(context, kit_metadata, version_table=KIT_VERSION_TABLE)
