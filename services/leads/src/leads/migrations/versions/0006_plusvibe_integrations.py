"""Integrations: a workspace's PlusVibe API key, sealed under the deployment's key-encryption key.

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plusvibe_integrations",
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("plusvibe_workspace_id", sa.String(length=100), nullable=False),
        sa.Column("plusvibe_workspace_name", sa.String(length=300), nullable=False),
        sa.Column("sealed_api_key", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("key_masked", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("connected_at", UTCDateTime(), nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace"),
    )


def downgrade() -> None:
    op.drop_table("plusvibe_integrations")
