"""Webhook secrets: the newest PlusVibeIntegrationChanged.sealed_webhook_secret per platform workspace (sealed under
the deployment's key-encryption key, as the event carried it), which `POST /api/plusvibe/webhooks/{workspace}`
verifies deliveries against.

The runtime role gets DML on the table from the migration step's grants (servicekit.process.migrate_cli).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("workspace", sa.Text(), primary_key=True),
        sa.Column("sealed_secret", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
