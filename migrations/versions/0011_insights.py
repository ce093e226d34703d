"""Insights: metric snapshots per period and split (the roll-up jobs replace a period's rows), and
the askers' satisfaction ratings, one per thread.

Revision ID: 0011_insights
Revises: 0010_escalation
Create Date: 2026-12-03 21:21:27.928978

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_insights'
down_revision = '0010_escalation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('insight_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('dimension', sa.String(length=10), nullable=False),
    sa.Column('dimension_id', sa.Integer(), nullable=False),
    sa.Column('measures', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("dimension IN ('all', 'category', 'team', 'staff')", name=op.f('ck_insight_snapshots_dimension_known')),
    sa.CheckConstraint("period IN ('day', 'week', 'range')", name=op.f('ck_insight_snapshots_period_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_snapshots')),
    sa.UniqueConstraint('period', 'period_start', 'period_end', 'dimension', 'dimension_id', name='uq_insight_snapshots_key')
    )
    op.create_table('insight_settings',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_insight_settings'))
    )
    op.create_table('insight_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('asker_id', sa.Integer(), nullable=False),
    sa.Column('resolver', sa.String(length=10), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), server_default='', nullable=False),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("resolver IN ('peer', 'self', 'staff', 'closed')", name=op.f('ck_insight_ratings_resolver_known')),
    sa.CheckConstraint('score IS NULL OR (score BETWEEN 1 AND 5)', name=op.f('ck_insight_ratings_score_in_range')),
    sa.ForeignKeyConstraint(['asker_id'], ['users.id'], name=op.f('fk_insight_ratings_asker_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_insight_ratings_category_id_categories'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_insight_ratings_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_ratings')),
    sa.UniqueConstraint('thread_id', name=op.f('uq_insight_ratings_thread_id'))
    )
    with op.batch_alter_table('insight_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_ratings_asker_id'), ['asker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_insight_ratings_rated_at'), ['rated_at'], unique=False)

    with op.batch_alter_table('escalation_teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lead_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_escalation_teams_lead_id_users', 'users', ['lead_id'], ['id'],
                                    ondelete='SET NULL')
    op.create_table('insight_summary_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_insight_summary_mails_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_summary_mails')),
    sa.UniqueConstraint('week_start', 'user_id', name='uq_insight_summary_mails_week_user')
    )
    with op.batch_alter_table('insight_summary_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_summary_mails_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index('ix_escalations_due_at', ['due_at'], unique=False)
        batch_op.create_index('ix_escalations_first_response_at', ['first_response_at'], unique=False)


def downgrade():
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_escalations_first_response_at')
        batch_op.drop_index('ix_escalations_due_at')
    with op.batch_alter_table('insight_summary_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_summary_mails_user_id'))

    op.drop_table('insight_summary_mails')
    with op.batch_alter_table('escalation_teams', schema=None) as batch_op:
        batch_op.drop_constraint('fk_escalation_teams_lead_id_users', type_='foreignkey')
        batch_op.drop_column('lead_id')

    with op.batch_alter_table('insight_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_ratings_rated_at'))
        batch_op.drop_index(batch_op.f('ix_insight_ratings_asker_id'))

    op.drop_table('insight_ratings')
    op.drop_table('insight_snapshots')
    op.drop_table('insight_settings')
