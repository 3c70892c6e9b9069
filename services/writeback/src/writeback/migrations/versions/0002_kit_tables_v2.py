"""Kit tables v2: the inbox keeps each claimed event's payload digest (a reused event id is then detected).

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from servicekit.process.migrate import downgrade_kit_tables_v2, upgrade_kit_tables_v2

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    upgrade_kit_tables_v2()


def downgrade() -> None:
    downgrade_kit_tables_v2()
