"""Leads belong to a platform workspace: `lead_projection` and `writeback_attempts` get a non-null `workspace`
(server default `default`), so every row written before workspaces belongs to `default` (the workspace of the
events that made it: events without a workspace belong to `default`).

Adding a NOT NULL column with a server default fills the existing rows on PostgreSQL and on SQLite alike (no copy
of the table); done in batch mode so SQLite (the embedded deployment) takes the same path as every other change.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.migration_guards import refuse_downgrade_if_any

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

DEFAULT_WORKSPACE = "default"  # contracts.integrations.DEFAULT_WORKSPACE, frozen as of this revision
TABLES = ("lead_projection", "writeback_attempts")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("workspace", sa.String(64), nullable=False,
                                          server_default=DEFAULT_WORKSPACE))


def downgrade() -> None:
    refuse_downgrade_if_any("SELECT 1 FROM lead_projection WHERE workspace <> 'default'",
                            "leads of workspaces other than default exist; they would be merged into one")
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("workspace")
