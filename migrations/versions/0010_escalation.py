"""Staff escalation queues: teams and their people, response policies, escalations with their
reasons and assignments, internal notes, private conversations, canned replies, advocates' peer
calls and webhook deliveries. At most one open escalation per thread: a partial unique index on
both SQLite and PostgreSQL.

Revision ID: 0010_escalation
Revises: 0009_notices_and_flows
Create Date: 2026-12-03 19:00:21

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_escalation'
down_revision = '0009_notices_and_flows'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('escalation_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('auto_assign', sa.Boolean(), nullable=False),
    sa.Column('notify_email', sa.String(length=254), server_default='', nullable=False),
    sa.Column('webhook_url', sa.String(length=500), server_default='', nullable=False),
    sa.Column('webhook_secret', sa.String(length=100), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_escalation_teams_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_escalation_teams_slug'))
    )
    op.create_table('escalation_canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('is_acknowledgement', sa.Boolean(), nullable=False),
    sa.Column('use_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_escalation_canned_replies_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_canned_replies')),
    sa.UniqueConstraint('title', name=op.f('uq_escalation_canned_replies_title'))
    )
    op.create_table('escalation_category_teams',
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_escalation_category_teams_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['escalation_teams.id'], name=op.f('fk_escalation_category_teams_team_id_escalation_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('category_id', name=op.f('pk_escalation_category_teams'))
    )
    with op.batch_alter_table('escalation_category_teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_category_teams_team_id'), ['team_id'], unique=False)

    op.create_table('escalation_people',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('cap', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=200), server_default='', nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_people_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_escalation_people'))
    )
    op.create_table('escalation_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('peer_window_s', sa.Integer(), nullable=False),
    sa.Column('target_s', sa.Integer(), nullable=False),
    sa.Column('urgent_target_s', sa.Integer(), nullable=False),
    sa.Column('calendar', sa.JSON(), nullable=False),
    sa.Column('urgent_terms', sa.String(length=2000), server_default='', nullable=False),
    sa.Column('unresolved_after_days', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_escalation_policies_category_id_categories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_policies')),
    sa.UniqueConstraint('category_id', name=op.f('uq_escalation_policies_category_id'))
    )
    op.create_table('escalation_team_members',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['escalation_teams.id'], name=op.f('fk_escalation_team_members_team_id_escalation_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_team_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'user_id', name=op.f('pk_escalation_team_members'))
    )
    with op.batch_alter_table('escalation_team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_team_members_user_id'), ['user_id'], unique=False)

    op.create_table('escalation_conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('asker_id', sa.Integer(), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asker_id'], ['users.id'], name=op.f('fk_escalation_conversations_asker_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_escalation_conversations_started_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_escalation_conversations_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_conversations'))
    )
    with op.batch_alter_table('escalation_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_conversations_asker_id'), ['asker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_conversations_thread_id'), ['thread_id'], unique=False)

    op.create_table('escalation_peer_calls',
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('advocates', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_escalation_peer_calls_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id', name=op.f('pk_escalation_peer_calls'))
    )
    op.create_table('escalation_conversation_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_role', sa.String(length=10), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_escalation_conversation_messages_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['escalation_conversations.id'], name=op.f('fk_escalation_conversation_messages_conversation_id_escalation_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_conversation_messages'))
    )
    with op.batch_alter_table('escalation_conversation_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_conversation_messages_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=80), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_rule', sa.String(length=20), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target_s', sa.Integer(), nullable=False),
    sa.Column('calendar', sa.JSON(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_post_id', sa.Integer(), nullable=True),
    sa.Column('response_business_s', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=20), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.String(length=500), server_default='', nullable=False),
    sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f('ck_escalations_state_known')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_escalations_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_escalations_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['first_response_post_id'], ['posts.id'], name=op.f('fk_escalations_first_response_post_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_escalations_resolved_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['escalation_teams.id'], name=op.f('fk_escalations_team_id_escalation_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_escalations_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index('ix_escalations_state_due_at', ['state', 'due_at'], unique=False)
        batch_op.create_index('ix_escalations_state_warn_at', ['state', 'warn_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index('uq_escalations_open_thread', ['thread_id'], unique=True, postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'"))

    op.create_table('escalation_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_escalation_assignments_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_escalation_assignments_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_assignments_escalation_id_escalations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_assignments'))
    )
    with op.batch_alter_table('escalation_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_assignments_escalation_id'), ['escalation_id'], unique=False)

    op.create_table('escalation_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_escalation_notes_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_notes_escalation_id_escalations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_escalation_notes_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_notes'))
    )
    with op.batch_alter_table('escalation_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_notes_thread_id'), ['thread_id'], unique=False)

    op.create_table('escalation_reasons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_escalation_reasons_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_reasons_escalation_id_escalations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_escalation_reasons_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_reasons'))
    )
    with op.batch_alter_table('escalation_reasons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_reasons_escalation_id'), ['escalation_id'], unique=False)
        batch_op.create_index('ix_escalation_reasons_thread_id_reason', ['thread_id', 'reason'], unique=False)

    op.create_table('escalation_webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), server_default='', nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_webhook_deliveries_escalation_id_escalations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['escalation_teams.id'], name=op.f('fk_escalation_webhook_deliveries_team_id_escalation_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_webhook_deliveries')),
    sa.UniqueConstraint('team_id', 'escalation_id', name=op.f('uq_escalation_webhook_deliveries_team_id_escalation_id'))
    )
    with op.batch_alter_table('escalation_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_webhook_deliveries_team_id'), ['team_id'], unique=False)



def downgrade():
    with op.batch_alter_table('escalation_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_webhook_deliveries_team_id'))

    op.drop_table('escalation_webhook_deliveries')
    with op.batch_alter_table('escalation_reasons', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_reasons_thread_id_reason')
        batch_op.drop_index(batch_op.f('ix_escalation_reasons_escalation_id'))

    op.drop_table('escalation_reasons')
    with op.batch_alter_table('escalation_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_notes_thread_id'))

    op.drop_table('escalation_notes')
    with op.batch_alter_table('escalation_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_assignments_escalation_id'))

    op.drop_table('escalation_assignments')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('uq_escalations_open_thread', postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'"))
        batch_op.drop_index(batch_op.f('ix_escalations_thread_id'))
        batch_op.drop_index('ix_escalations_state_warn_at')
        batch_op.drop_index('ix_escalations_state_due_at')
        batch_op.drop_index(batch_op.f('ix_escalations_assignee_id'))

    op.drop_table('escalations')
    with op.batch_alter_table('escalation_conversation_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_conversation_messages_conversation_id'))

    op.drop_table('escalation_conversation_messages')
    op.drop_table('escalation_peer_calls')
    with op.batch_alter_table('escalation_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_conversations_thread_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_conversations_asker_id'))

    op.drop_table('escalation_conversations')
    with op.batch_alter_table('escalation_team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_team_members_user_id'))

    op.drop_table('escalation_team_members')
    op.drop_table('escalation_policies')
    op.drop_table('escalation_people')
    with op.batch_alter_table('escalation_category_teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_category_teams_team_id'))

    op.drop_table('escalation_category_teams')
    op.drop_table('escalation_canned_replies')
    op.drop_table('escalation_teams')
