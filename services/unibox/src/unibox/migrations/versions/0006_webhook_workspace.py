"""Every stored webhook belongs to a platform workspace: the one whose route and secret it arrived through. Rows
stored before (one workspace, `default`) get `default`.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_events", sa.Column("workspace", sa.String(length=100), nullable=False,
                                              server_default="default"))


def downgrade() -> None:
    op.drop_column("webhook_events", "workspace")
