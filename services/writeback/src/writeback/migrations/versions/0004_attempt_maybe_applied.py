"""A writeback attempt remembers whether its last PlusVibe call may have been applied (the worker died during
the call, or the connection was lost after sending): the next try reads the lead back before sending again,
so an update whose outcome was unknown is reconciled rather than repeated.

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("writeback_attempts", sa.Column("maybe_applied", sa.Boolean(), nullable=False,
                                                  server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("writeback_attempts", "maybe_applied")
