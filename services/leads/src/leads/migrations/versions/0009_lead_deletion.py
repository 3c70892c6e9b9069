"""Leads can be deleted by an operator: a soft delete keeps the row (its history, audits and emails stay readable by
ops) and marks it `deleted_at`; every read of the API then treats it as gone.

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime
from servicekit.process.migration_guards import refuse_downgrade_if_any

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("deleted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    refuse_downgrade_if_any("SELECT 1 FROM leads WHERE deleted_at IS NOT NULL",
                            "deleted leads exist; without deleted_at they would come back in every list")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("deleted_at")
