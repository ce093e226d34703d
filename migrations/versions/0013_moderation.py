"""Moderation: flags, review items, warnings and restrictions given to members, the admins'
settings, sign-up addresses and reading counts; a member's trust level and standing on users.

Revision ID: 0013_moderation
Revises: 0012_thread_actions
Create Date: 2026-12-04 15:10:37.804391

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_moderation'
down_revision = '0012_thread_actions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('moderation_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('blocked_words', sa.Text(), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_settings'))
    )
    op.create_table('moderation_categories',
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('flag_threshold', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_moderation_categories_category_id_categories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('category_id', name=op.f('pk_moderation_categories'))
    )
    op.create_table('reading_counts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('posts_read', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reading_counts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reading_counts'))
    )
    op.create_table('signup_addresses',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_signup_addresses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_signup_addresses'))
    )
    with op.batch_alter_table('signup_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_addresses_address_hash'), ['address_hash'], unique=False)

    op.create_table('member_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by_id', sa.Integer(), nullable=True),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_member_actions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ended_by_id'], ['users.id'], name=op.f('fk_member_actions_ended_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_member_actions_post_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_member_actions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_actions'))
    )
    with op.batch_alter_table('member_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_actions_user_id'), ['user_id'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=500), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decision_note', sa.String(length=500), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_review_items_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_review_items_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_review_items_post_id_posts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_review_items_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_items'))
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_items_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_post_id'), ['post_id'], unique=False)
        batch_op.create_index('ix_review_items_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index('uq_review_items_pending_post', ['post_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('flagger_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('review_item_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['flagger_id'], ['users.id'], name=op.f('fk_flags_flagger_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_flags_post_id_posts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_item_id'], ['review_items.id'], name=op.f('fk_flags_review_item_id_review_items'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags')),
    sa.UniqueConstraint('post_id', 'flagger_id', name=op.f('uq_flags_post_id_flagger_id'))
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flags_flagger_id'), ['flagger_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_post_id'), ['post_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_review_item_id'), ['review_item_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trust_level', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('restriction', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('restricted_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('restriction_reason', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('has_warning', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('has_warning')
        batch_op.drop_column('restriction_reason')
        batch_op.drop_column('restricted_until')
        batch_op.drop_column('restriction')
        batch_op.drop_column('trust_level')

    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flags_review_item_id'))
        batch_op.drop_index(batch_op.f('ix_flags_post_id'))
        batch_op.drop_index(batch_op.f('ix_flags_flagger_id'))

    op.drop_table('flags')
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index('uq_review_items_pending_post', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_review_items_thread_id'))
        batch_op.drop_index('ix_review_items_status_created_at')
        batch_op.drop_index(batch_op.f('ix_review_items_post_id'))
        batch_op.drop_index(batch_op.f('ix_review_items_author_id'))

    op.drop_table('review_items')
    with op.batch_alter_table('member_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_actions_user_id'))

    op.drop_table('member_actions')
    with op.batch_alter_table('signup_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_addresses_address_hash'))

    op.drop_table('signup_addresses')
    op.drop_table('reading_counts')
    op.drop_table('moderation_categories')
    op.drop_table('moderation_settings')
