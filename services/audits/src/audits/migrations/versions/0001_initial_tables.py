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
    op.create_table('audit_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('domain', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_at', UTCDateTime(), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=True),
    sa.Column('request_event_id', sa.Uuid(), nullable=False),
    sa.Column('correlation_id', sa.Uuid(), nullable=True),
    sa.Column('workspace_id', sa.String(length=100), nullable=True),
    sa.Column('queued_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('error_kind', sa.String(length=40), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('report_slug', sa.String(length=64), nullable=False),
    sa.Column('grade', sa.String(length=2), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('categories', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('checks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('profile', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('report_slug')
    )
    with op.batch_alter_table('audit_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_runs_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ix_audit_runs_status_lease', ['status', 'lease_until'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_runs_status_lease')
        batch_op.drop_index(batch_op.f('ix_audit_runs_lead_id'))

    op.drop_table('audit_runs')
    op.drop_table('inbox')
    op.drop_table('outbox')
