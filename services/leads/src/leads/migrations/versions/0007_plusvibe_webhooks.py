"""Integrations register the workspace's PlusVibe webhook: its sealed secret, id, URL and PlusVibe workspace.

Existing integrations get no hook here (a migration makes no PlusVibe calls): the next connect or Test connection
registers it.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_TEXT_COLUMNS = (("sealed_webhook_secret", sa.Text()), ("webhook_id", sa.String(length=100)),
                 ("webhook_url", sa.Text()), ("webhook_plusvibe_workspace_id", sa.String(length=100)))


def upgrade() -> None:
    for name, type_ in _TEXT_COLUMNS:
        op.add_column("plusvibe_integrations", sa.Column(name, type_, nullable=False, server_default=""))
    op.add_column("plusvibe_integrations", sa.Column("webhook_registered_at", UTCDateTime(), nullable=True))
    op.add_column("plusvibe_integrations", sa.Column("webhook_error", sa.Text(), nullable=True))


def downgrade() -> None:
    for name in ("webhook_error", "webhook_registered_at", *(n for n, _ in reversed(_TEXT_COLUMNS))):
        op.drop_column("plusvibe_integrations", name)
