"""initial tables: lead projection, webhook log, reply intents, opens seen

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import JsonType, UTCDateTime
from servicekit.process.migrate import create_kit_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "lead_projection",
        sa.Column("lead_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("opens_checked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_lead_projection_email", "lead_projection", ["email"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("webhook_event", sa.String(120), nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("last_received_at", UTCDateTime(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("activity", sa.String(40), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
    )
    op.create_index(
        "ix_webhook_events_unprocessed",
        "webhook_events",
        ["received_at"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "reply_intents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reply_to_id", sa.String(100), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("plusvibe_email_id", sa.String(100), nullable=True),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.Column("error_reason", sa.String(60), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "opens_seen",
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "campaign_id", name="pk_opens_seen"),
    )


def downgrade() -> None:
    op.drop_table("opens_seen")
    op.drop_table("reply_intents")
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_lead_projection_email", table_name="lead_projection")
    op.drop_table("lead_projection")
