"""Normalise the deprecated stored status `sent` to `email_sent`, with a history row per lead.

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    leads = sa.table("leads", sa.column("id", sa.Uuid()), sa.column("status", sa.String()), sa.column("version", sa.Integer()))
    history = sa.table(
        "status_history",
        sa.column("lead_id", sa.Uuid()),
        sa.column("from_status", sa.String()),
        sa.column("to_status", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("reason", sa.String()),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
    ids = [row[0] for row in bind.execute(sa.select(leads.c.id).where(leads.c.status == "sent"))]
    if not ids:
        return
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    bind.execute(
        history.insert(),
        [{"lead_id": i, "from_status": "sent", "to_status": "email_sent", "actor": "migration",
          "reason": "legacy_normalised", "changed_at": now} for i in ids],
    )
    bind.execute(
        leads.update().where(leads.c.status == "sent").values(status="email_sent", version=leads.c.version + 1)
    )


def downgrade() -> None:
    # The legacy value is deprecated; there is nothing to restore it to.
    pass
