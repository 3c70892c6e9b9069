"""PlusVibe credentials: the newest PlusVibeIntegrationChanged per platform workspace (the API key sealed under the
deployment's key-encryption key, as the event carried it), which the PlusVibe client resolves before each call.

The runtime role gets DML on the table from the migration step's grants (servicekit.process.migrate_cli).

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

from alembic import op

from plusvibe.credential_store import TABLE, credentials_columns

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(TABLE, *credentials_columns())


def downgrade() -> None:
    op.drop_table(TABLE)
