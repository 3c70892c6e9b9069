from alembic import context

from servicekit.kit_migrations import KIT_VERSION_TABLE
from servicekit.migrate import run_migrations
from servicekit.tables import kit_metadata

run_migrations(context, kit_metadata, version_table=KIT_VERSION_TABLE)
