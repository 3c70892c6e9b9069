"""Workspaces are first-class: every lead, audit run, history row, outreach email, push-ledger entry and campaign
fingerprint belongs to a platform workspace (docs/WORKSPACES.md).

Existing rows become `default` (the workspace every deployment served before): the column is added with that
server default, so nothing is rewritten by hand and nothing is lost. A campaign fingerprint is now kept per
workspace (two workspaces may connect the same PlusVibe campaign and check it on their own). The list's default
order gets an index within a workspace.

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import UTCDateTime
from servicekit.process.migration_guards import refuse_downgrade_if_any

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_DEFAULT = "default"
_TABLES = ("leads", "audit_runs", "status_history", "outreach_emails", "push_ledger", "campaign_templates")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("workspace", sa.String(length=100), nullable=False, server_default=_DEFAULT))
    op.create_index("ix_leads_workspace_updated_at", "leads", ["workspace", "updated_at"])
    _campaign_templates_key(["workspace", "campaign_id"])


def downgrade() -> None:
    # Only lossless while one workspace is in use: any other would be folded into the one schema without a trace.
    refuse_downgrade_if_any("SELECT 1 FROM leads WHERE workspace <> 'default'",
                            "leads of workspaces other than default exist; they would be merged into one")
    _campaign_templates_key(["campaign_id"])
    op.drop_index("ix_leads_workspace_updated_at", table_name="leads")
    for table in reversed(_TABLES):
        op.drop_column(table, "workspace")


def _campaign_templates_key(columns: list[str]) -> None:
    """PostgreSQL alters the primary key in place. SQLite (the API suites' stub database) cannot alter constraints:
    there the table is copied into one with the new key."""
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("campaign_templates_pkey", "campaign_templates", type_="primary")
        op.create_primary_key("campaign_templates_pkey", "campaign_templates", columns)
        return
    op.create_table(
        "_campaign_templates_new",
        sa.Column("workspace", sa.String(length=100), nullable=False, server_default=_DEFAULT),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint(*columns, name="campaign_templates_pkey"),
    )
    names = "workspace, campaign_id, fingerprint, checked_at, changed_at"
    op.execute(f"INSERT INTO _campaign_templates_new ({names}) SELECT {names} FROM campaign_templates")
    op.drop_table("campaign_templates")
    op.rename_table("_campaign_templates_new", "campaign_templates")
