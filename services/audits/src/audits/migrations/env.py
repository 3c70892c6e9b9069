from alembic import context

from audits.adapters.orm import metadata
from servicekit.migrate import run_migrations

run_migrations(context, metadata)
