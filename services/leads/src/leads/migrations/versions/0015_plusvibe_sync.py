"""First sync from PlusVibe (docs/FIRST-SYNC.md): one row per sync of a workspace, with its progress (the next page,
committed with each page's leads), its counts, the conflicts it reported and who runs it now.

Revision ID: 0015
Revises: 0014
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import JsonType, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plusvibe_syncs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("runner", sa.Uuid(), nullable=True),
        sa.Column("next_page", sa.Integer(), nullable=False),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("linked", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("conflict_count", sa.Integer(), nullable=False),
        sa.Column("conflicts", JsonType, nullable=False),
        sa.Column("resumes", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_plusvibe_syncs_workspace_started", "plusvibe_syncs", ["workspace", "started_at"])
    # At most one running sync per workspace, whatever two API replicas decide at the same moment.
    op.create_index("uq_plusvibe_syncs_running", "plusvibe_syncs", ["workspace"], unique=True,
                    postgresql_where=sa.text("status = 'running'"), sqlite_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_index("uq_plusvibe_syncs_running", table_name="plusvibe_syncs")
    op.drop_index("ix_plusvibe_syncs_workspace_started", table_name="plusvibe_syncs")
    op.drop_table("plusvibe_syncs")
