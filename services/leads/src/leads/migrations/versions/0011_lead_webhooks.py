"""Every PlusVibe webhook about a lead is kept with its raw payload (Lead detail's Timeline), not only the newest one
on the lead. A lead that already holds a newest webhook gets it as its first row (a stable id made from the lead's).

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.process.db import JsonType, UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_webhooks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False, server_default="default"),
        sa.Column("activity", sa.String(30), nullable=False),
        sa.Column("webhook_event", sa.String(100), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("raw_payload", JsonType, nullable=False),
    )
    op.create_index("ix_lead_webhooks_lead_observed", "lead_webhooks", ["lead_id", "observed_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(r"""
            INSERT INTO lead_webhooks (id, lead_id, workspace, activity, webhook_event, label, subject, observed_at,
                                       raw_payload)
            SELECT CAST(md5(id::text || '|newest-webhook') AS uuid), id, workspace,
                   CASE WHEN event = 'EMAIL_SENT' THEN 'sent'
                        WHEN event LIKE '%\_REPLIES' THEN 'replied'
                        WHEN event = 'BOUNCED_EMAIL' THEN 'bounced'
                        WHEN event LIKE 'LEAD\_MARKED\_AS\_%' THEN 'label_changed'
                        ELSE 'other' END,
                   LEFT(event, 100), LEFT(pv_label, 100), pv_last_email_subject, pv_last_activity_at, pv_raw_payload
            FROM (SELECT *, UPPER(COALESCE(NULLIF(pv_raw_payload ->> 'webhook_event', ''), 'UNKNOWN')) AS event
                  FROM leads WHERE pv_raw_payload IS NOT NULL AND pv_last_activity_at IS NOT NULL) AS enriched
        """)


def downgrade() -> None:
    op.drop_index("ix_lead_webhooks_lead_observed", table_name="lead_webhooks")
    op.drop_table("lead_webhooks")
