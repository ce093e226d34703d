"""Reliability: job heartbeats (a dead worker's jobs run again) and server-side sign-in sessions

Revision ID: 0007_sessions_and_jobs
Revises: 0005_ask_flows
Create Date: 2026-12-03 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_sessions_and_jobs'
down_revision = '0005_ask_flows'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_job_outbox_func_status', ['func', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_job_outbox_func_status')
        batch_op.drop_column('heartbeat_at')
