"""A manual writeback's attempt keeps the copy setting leads saw when the operator pressed (WritebackRequested's
`tone` and `steps`): the delivery writes with it rather than with the setting writeback holds, which may lag.

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("writeback_attempts", sa.Column("copy_tone", sa.String(20), nullable=True))
    op.add_column("writeback_attempts", sa.Column("copy_steps", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("writeback_attempts") as batch:
        batch.drop_column("copy_steps")
        batch.drop_column("copy_tone")
