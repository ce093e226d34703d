"""Usability: an edit summary on revisions, topics (categories and tags) a person follows, and
notification preferences per kind.

Revision ID: 0014_usability
Revises: 0013_moderation
Create Date: 2026-12-04 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_usability'
down_revision = '0013_moderation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('post_revisions') as batch_op:
        batch_op.add_column(sa.Column('summary', sa.String(length=200), server_default='', nullable=False))
    op.create_table('topic_follows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('tag_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(category_id IS NULL) != (tag_id IS NULL)', name=op.f('ck_topic_follows_one_topic')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_topic_follows_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_topic_follows_tag_id_tags'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_topic_follows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_follows')),
    sa.UniqueConstraint('user_id', 'category_id', name=op.f('uq_topic_follows_user_id_category_id')),
    sa.UniqueConstraint('user_id', 'tag_id', name=op.f('uq_topic_follows_user_id_tag_id'))
    )
    op.create_index(op.f('ix_topic_follows_user_id'), 'topic_follows', ['user_id'], unique=False)
    op.create_index(op.f('ix_topic_follows_category_id'), 'topic_follows', ['category_id'], unique=False)
    op.create_index(op.f('ix_topic_follows_tag_id'), 'topic_follows', ['tag_id'], unique=False)
    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('delivery', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_notification_preferences'))
    )


def downgrade():
    op.drop_table('notification_preferences')
    op.drop_index(op.f('ix_topic_follows_tag_id'), table_name='topic_follows')
    op.drop_index(op.f('ix_topic_follows_category_id'), table_name='topic_follows')
    op.drop_index(op.f('ix_topic_follows_user_id'), table_name='topic_follows')
    op.drop_table('topic_follows')
    with op.batch_alter_table('post_revisions') as batch_op:
        batch_op.drop_column('summary')
