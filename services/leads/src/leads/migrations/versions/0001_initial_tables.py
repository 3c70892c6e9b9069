"""initial tables

Revision ID: 0001
Revises: (none)
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.process.db import UTCDateTime
from servicekit.process.migrate import create_kit_tables

revision: str = '0001'
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table('leads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_name', sa.String(length=300), nullable=True),
    sa.Column('domain', sa.String(length=300), nullable=True),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=100), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=100), nullable=True),
    sa.Column('audit_run_id', sa.Uuid(), nullable=True),
    sa.Column('audit_requested_at', UTCDateTime(), nullable=True),
    sa.Column('pv_label', sa.String(length=100), nullable=True),
    sa.Column('pv_reply_sentiment', sa.String(length=50), nullable=True),
    sa.Column('pv_last_email_subject', sa.Text(), nullable=True),
    sa.Column('pv_raw_payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('pv_last_activity_at', UTCDateTime(), nullable=True),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('wb_variables', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('wb_audit_run_id', sa.Uuid(), nullable=True),
    sa.Column('wb_delivered', sa.Boolean(), nullable=True),
    sa.Column('wb_applied_at', UTCDateTime(), nullable=True),
    sa.Column('wb_error', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_updated_at'), ['updated_at'], unique=False)

    op.create_table('audit_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('domain', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_at', UTCDateTime(), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('grade', sa.String(length=2), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('top_issue', sa.Text(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('report_url', sa.Text(), nullable=True),
    sa.Column('profile', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_runs_lead_id'), ['lead_id'], unique=False)

    op.create_table('outreach_emails',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('cta', sa.Text(), nullable=False),
    sa.Column('tone', sa.String(length=30), nullable=True),
    sa.Column('audit_run_id', sa.Uuid(), nullable=True),
    sa.Column('writeback_status', sa.String(length=20), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outreach_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outreach_emails_lead_id'), ['lead_id'], unique=False)

    op.create_table('push_ledger',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('campaign_id', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('variables', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('pushed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lead_id', 'campaign_id', name='uq_push_ledger_lead_campaign')
    )
    op.create_table('status_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=40), nullable=True),
    sa.Column('to_status', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('status_history', schema=None) as batch_op:
        batch_op.create_index('ix_status_history_lead', ['lead_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('status_history', schema=None) as batch_op:
        batch_op.drop_index('ix_status_history_lead')

    op.drop_table('status_history')
    op.drop_table('push_ledger')
    with op.batch_alter_table('outreach_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outreach_emails_lead_id'))

    op.drop_table('outreach_emails')
    with op.batch_alter_table('audit_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_runs_lead_id'))

    op.drop_table('audit_runs')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_updated_at'))
        batch_op.drop_index(batch_op.f('ix_leads_status'))
        batch_op.drop_index(batch_op.f('ix_leads_email'))
        batch_op.drop_index(batch_op.f('ix_leads_campaign_id'))

    op.drop_table('leads')
