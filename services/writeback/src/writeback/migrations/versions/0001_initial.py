"""initial tables: kit outbox/inbox, lead projection, writeback attempts

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
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("company_name", sa.Text(), nullable=True),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("job_title", sa.Text(), nullable=True),
        sa.Column("contact_email", sa.Text(), nullable=True),
        sa.Column("campaign_id", sa.String(100), nullable=True),
        sa.Column("link_email", sa.Text(), nullable=True),
        sa.Column("link_at", UTCDateTime(), nullable=True),
        sa.Column("audit_run_id", sa.Uuid(), nullable=True),
        sa.Column("audit_requested_at", UTCDateTime(), nullable=True),
        sa.Column("audit_completed_at", UTCDateTime(), nullable=True),
        sa.Column("profile", JsonType, nullable=True),
        sa.Column("audit_event_id", sa.Uuid(), nullable=True),
        sa.Column("audit_correlation_id", sa.Uuid(), nullable=True),
        sa.Column("last_attempt_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "writeback_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("audit_run_id", sa.Uuid(), nullable=False),
        sa.Column("audit_requested_at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("campaign_id", sa.String(100), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("inputs", JsonType, nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("variables", JsonType, nullable=True),
        sa.Column("payload_hash", sa.String(64), nullable=True),
        sa.Column("payload_keys", JsonType, nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("first_try_at", UTCDateTime(), nullable=True),
        sa.Column("next_try_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("causation_event_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.Uuid(), nullable=True),
    )
    op.create_index("ix_writeback_attempts_lead", "writeback_attempts", ["lead_id", "created_at"])
    op.create_index("ix_writeback_attempts_request", "writeback_attempts", ["request_id"], unique=True)
    op.create_index("ix_writeback_attempts_due", "writeback_attempts", ["next_try_at"],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table("writeback_attempts")
    op.drop_table("lead_projection")
