"""Audit runs belong to a platform workspace: runs requested before workspaces (no `workspace_id`) belong to
`default`, and the column becomes non-null (server default `default`).

A batch alter: SQLite (the embedded deployment) cannot change a column's nullability in place, so there the table
is copied; PostgreSQL alters it directly.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

DEFAULT_WORKSPACE = "default"  # contracts.integrations.DEFAULT_WORKSPACE, frozen as of this revision


def upgrade() -> None:
    op.execute(sa.text("UPDATE audit_runs SET workspace_id = :ws WHERE workspace_id IS NULL")
               .bindparams(ws=DEFAULT_WORKSPACE))
    with op.batch_alter_table("audit_runs") as batch_op:
        batch_op.alter_column("workspace_id", existing_type=sa.String(100), nullable=False,
                              server_default=DEFAULT_WORKSPACE)


def downgrade() -> None:
    with op.batch_alter_table("audit_runs") as batch_op:
        batch_op.alter_column("workspace_id", existing_type=sa.String(100), nullable=True, server_default=None)
