"""Copy settings: the tone (and optionally the step count) copy is written in, per workspace and campaign, with a
workspace default (campaign_id ""). Replaces the two environment settings LEADS_DEFAULT_TONE and WRITEBACK_COPY_TONE.

Revision ID: 0012
Revises: 0011
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "copy_settings",
        sa.Column("workspace", sa.String(100), primary_key=True, server_default="default"),
        sa.Column("campaign_id", sa.String(100), primary_key=True),
        sa.Column("tone", sa.String(20), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("copy_settings")
