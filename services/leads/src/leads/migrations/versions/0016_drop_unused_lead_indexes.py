"""Drop two indexes of `leads` no query uses: `ix_leads_email` (every lookup by address is `lower(email)` within a
workspace: `ix_leads_workspace_lower_email`) and `ix_leads_updated_at` (every list is of one workspace and sorts
with `ix_leads_workspace_updated_at`). A lead's status and update time change on every transition, so no update of
a lead is HOT and each one wrote an entry into every index of the table: two of its eight are gone.

Revision ID: 0016
Revises: 0015
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_leads_email", table_name="leads")
    op.drop_index("ix_leads_updated_at", table_name="leads")


def downgrade() -> None:
    op.create_index("ix_leads_updated_at", "leads", ["updated_at"])
    op.create_index("ix_leads_email", "leads", ["email"])
