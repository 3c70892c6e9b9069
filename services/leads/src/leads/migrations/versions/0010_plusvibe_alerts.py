"""PlusVibe's SYSTEM_ALERT webhooks (CAMPAIGN_AUTO_PAUSED, a disconnected mailbox, …) are kept per workspace until an
operator dismisses them.

Revision ID: 0010
Revises: 0009
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import JsonType, UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plusvibe_alerts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False, server_default="default"),
        sa.Column("alert", sa.String(100), nullable=False),
        sa.Column("campaign_id", sa.String(100), nullable=True),
        sa.Column("campaign_name", sa.String(300), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("campaign_paused", sa.Boolean(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("raw_payload", JsonType, nullable=False),
        sa.Column("dismissed_at", UTCDateTime(), nullable=True),
        sa.Column("dismissed_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_plusvibe_alerts_workspace_observed", "plusvibe_alerts", ["workspace", "observed_at"])


def downgrade() -> None:
    op.drop_index("ix_plusvibe_alerts_workspace_observed", table_name="plusvibe_alerts")
    op.drop_table("plusvibe_alerts")
