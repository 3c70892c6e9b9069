"""Kit tables v3: the inbox keeps each claimed record's digest (key, value, headers), so a replay of records
already applied skips them without decoding them.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

from servicekit.process.migrate import downgrade_kit_tables_v3, upgrade_kit_tables_v3

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    upgrade_kit_tables_v3()


def downgrade() -> None:
    downgrade_kit_tables_v3()
