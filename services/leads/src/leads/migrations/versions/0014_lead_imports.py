"""CSV import (docs/CSV.md): the uploaded files, each import with its options, progress and per-row errors, and the
column mapping a workspace last used.

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import JsonType, UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_import_uploads",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "lead_imports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("options", JsonType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", JsonType, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("workspace", "idempotency_key", name="uq_lead_imports_workspace_key"),
    )
    op.create_table(
        "lead_import_mappings",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("mapping", JsonType, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_leads_workspace_lower_email", "leads", ["workspace", sa.text("lower(email)")])
    op.create_index("ix_leads_workspace_lower_domain", "leads", ["workspace", sa.text("lower(domain)")])


def downgrade() -> None:
    op.drop_index("ix_leads_workspace_lower_domain", table_name="leads")
    op.drop_index("ix_leads_workspace_lower_email", table_name="leads")
    op.drop_table("lead_import_mappings")
    op.drop_table("lead_imports")
    op.drop_table("lead_import_uploads")
