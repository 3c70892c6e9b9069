from alembic import context

from servicekit.migrate import run_migrations
from writeback.adapters.orm import metadata

run_migrations(context, metadata)
