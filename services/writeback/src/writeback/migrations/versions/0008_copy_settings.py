"""Copy settings: the newest CopySettingsChanged per platform workspace and campaign (campaign_id "": the
workspace's default), the tone and step count every lead's copy is written with. Replaces the process-wide setting
WRITEBACK_COPY_TONE (leads owns the copy settings and announces them).

The runtime role gets DML on the table from the migration step's grants (servicekit.process.migrate_cli). The
downgrade drops the table and the settings stored in it (the code before this revision writes every copy in the
one WRITEBACK_COPY_TONE).

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "copy_settings",
        sa.Column("workspace", sa.Text(), primary_key=True),
        sa.Column("campaign_id", sa.Text(), primary_key=True),
        sa.Column("tone", sa.String(20), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("copy_settings")
