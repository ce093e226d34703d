"""Stored reputation; posts lose their single-column deleted/hidden indexes

Revision ID: 0003_reputation
Revises: 0002_forum
Create Date: 2026-11-26 15:00:00

Reputation was summed from every vote on each page view, which dominated a thread page's time on a
large forum; it is now kept in `reputations` by the services. The upgrade fills it from the votes
and threads already stored, with the same rules as forum.reputation.computed.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_reputation'
down_revision = '0002_forum'
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO reputations (user_id, points)
SELECT user_id, SUM(points) FROM (
    SELECT p.author_id AS user_id, CASE WHEN v.value > 0 THEN 10 ELSE -2 END AS points
    FROM votes v JOIN posts p ON p.id = v.post_id
    WHERE p.kind = 'answer' AND p.deleted_at IS NULL
    UNION ALL
    SELECT p.author_id AS user_id, 15 AS points
    FROM threads t JOIN posts p ON p.id = t.accepted_post_id
    WHERE t.deleted_at IS NULL AND p.deleted_at IS NULL AND t.author_id <> p.author_id
) AS earned
GROUP BY user_id
"""


def upgrade():
    op.create_table('reputations',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reputations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reputations'))
    )
    op.execute(BACKFILL)
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posts_deleted_at'))
        batch_op.drop_index(batch_op.f('ix_posts_hidden_at'))


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posts_hidden_at'), ['hidden_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_posts_deleted_at'), ['deleted_at'], unique=False)
    op.drop_table('reputations')
