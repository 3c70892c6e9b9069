from alembic import context

from audits.adapters.orm import metadata
from servicekit.process.migrate import run_migrations

run_migrations(context, metadata)
