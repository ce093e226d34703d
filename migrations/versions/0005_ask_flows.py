"""Ask flows: suggestions opened on the ask form, and whether a question followed (deflection)

Revision ID: 0005_ask_flows
Revises: 0004_kb
Create Date: 2026-11-26 15:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005_ask_flows'
down_revision = '0004_kb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ask_flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_count', sa.Integer(), nullable=False),
    sa.Column('last_opened_doc', sa.String(length=80), nullable=True),
    sa.Column('thread_id', sa.Integer(), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_ask_flows_thread_id_threads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ask_flows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ask_flows')),
    sa.UniqueConstraint('token', name=op.f('uq_ask_flows_token'))
    )
    with op.batch_alter_table('ask_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ask_flows_first_opened_at'), ['first_opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ask_flows_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ask_flows_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ask_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ask_flows_user_id'))
        batch_op.drop_index(batch_op.f('ix_ask_flows_thread_id'))
        batch_op.drop_index(batch_op.f('ix_ask_flows_first_opened_at'))
    op.drop_table('ask_flows')
