"""Every row belongs to a platform workspace: `workspace` on the lead projection, reply intents and opens seen (the
webhook log has it since 0006); rows stored before (one workspace) get `default`. An address is looked up per
workspace (`ix_lead_projection_email` on (workspace, email)); an idempotency key and a webhook payload are unique
per workspace, not across them.

SQLite cannot alter a constraint in place: the unique constraints are changed in batch mode (the table copied), on
SQLite by the name a naming convention gives the unnamed constraint 0001 created.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.migration_guards import refuse_downgrade_if_any

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# What the unnamed single-column unique constraints of 0001 are called in batch mode on SQLite.
_UNNAMED_UNIQUE = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
# (table, the column unique until now, the constraint unique per workspace from now on)
_PER_WORKSPACE = (
    ("reply_intents", "idempotency_key", "uq_reply_intents_workspace_idempotency_key"),
    ("webhook_events", "dedupe_key", "uq_webhook_events_workspace_dedupe_key"),
)


def _workspace_column() -> sa.Column[str]:
    return sa.Column("workspace", sa.String(length=100), nullable=False, server_default="default")


def _unique_on(table: str, column: str) -> str:
    """The name of `table`'s unique constraint on `column` alone (PostgreSQL names it; SQLite leaves it unnamed)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == [column] and constraint["name"]:
            return str(constraint["name"])
    return f"uq_{table}_{column}"


def upgrade() -> None:
    for table in ("lead_projection", "reply_intents", "opens_seen"):
        op.add_column(table, _workspace_column())
    op.drop_index("ix_lead_projection_email", table_name="lead_projection")
    op.create_index("ix_lead_projection_email", "lead_projection", ["workspace", "email"])
    for table, column, per_workspace in _PER_WORKSPACE:
        old = _unique_on(table, column)
        with op.batch_alter_table(table, naming_convention=_UNNAMED_UNIQUE) as batch:
            batch.drop_constraint(old, type_="unique")
            batch.create_unique_constraint(per_workspace, ["workspace", column])


def downgrade() -> None:
    """Only a schema holding one workspace's rows goes back (the old unique constraints would refuse the others)."""
    refuse_downgrade_if_any("SELECT 1 FROM lead_projection WHERE workspace <> 'default'",
                            "leads of workspaces other than default exist; they would be merged into one")
    for table, column, per_workspace in _PER_WORKSPACE:
        with op.batch_alter_table(table, naming_convention=_UNNAMED_UNIQUE) as batch:
            batch.drop_constraint(per_workspace, type_="unique")
            batch.create_unique_constraint(f"uq_{table}_{column}", [column])
    op.drop_index("ix_lead_projection_email", table_name="lead_projection")
    op.create_index("ix_lead_projection_email", "lead_projection", ["email"])
    for table in ("opens_seen", "reply_intents", "lead_projection"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("workspace")
