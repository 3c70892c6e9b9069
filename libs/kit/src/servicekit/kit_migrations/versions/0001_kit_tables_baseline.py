"""Kit tables baseline (v3): the outbox and the inbox, adopted from a schema made before the kit history.

Until this history, each service's own revisions created the kit tables (`create_kit_tables()` in its first
revision) and changed them (its `kit_tables_v2`/`kit_tables_v3` revisions). So this revision creates only what is
missing: both tables in the v3 shape on a fresh schema, and on a schema a service's history made, the inbox's v2
and v3 digest columns if that history had not added them yet. Existing rows are kept.

Revision ID: kit0001
Revises: (none)
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.kit_migrations.baseline import create_tables

revision: str = "kit0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    create_tables(bind)
    columns = {c["name"] for c in sa.inspect(bind).get_columns("inbox")}
    for name in ("payload_sha256", "record_sha256"):  # kit tables v2, v3
        if name not in columns:
            op.add_column("inbox", sa.Column(name, sa.String(64), nullable=True))


def downgrade() -> None:
    # Nothing: the tables may hold a service's undelivered events and unexpired claims, and a service's first
    # revision created them on every schema made before this history; that revision's downgrade owns dropping
    # them. Going below this revision only forgets the kit history (it adopts the tables again on the next upgrade).
    pass
