"""Kit tables v3: the inbox keeps each claimed record's digest (key, value, headers), so a replay of records
already applied skips them without decoding them.

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

from servicekit.process.migrate import downgrade_kit_tables_v3, upgrade_kit_tables_v3

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    upgrade_kit_tables_v3()


def downgrade() -> None:
    downgrade_kit_tables_v3()
