"""Kit tables v2: the inbox keeps each claimed event's payload digest (a reused event id is then detected).

Now a no-op: the kit history (servicekit.kit_migrations, its baseline `kit0001`) owns the kit tables and
adds `inbox.payload_sha256` where missing, before this history runs. The revision stays because its id is recorded
in deployed `alembic_version` tables. A no-op rather than a call into the kit: `upgrade()` has run the kit
history by then, and no service file depends on how the kit tables change (a later change is a kit revision).

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    # The kit history owns the column: leaving this revision keeps it.
    pass
