from alembic import context

from servicekit.process.migrate import run_migrations
from writeback.adapters.orm import metadata

run_migrations(context, metadata)
