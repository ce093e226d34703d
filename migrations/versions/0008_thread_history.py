"""Thread history, one moderation state, one audit log

- `thread_events`: every change of a thread's state, appended. Existing threads get the history
  their columns tell: created, urgent, first reply, first staff reply, accepted (imported threads at
  the answer's own time, as the importer stored it), closed, locked, deleted, and their deleted and
  hidden replies.
- `threads.state` / `posts.state` (visible, held, hidden, spam, deleted), filled from deleted_at and
  hidden_at; who hid and why; who closed and why (the old reason "staff" becomes "other").
- `threads.first_staff_reply_post_id` beside first_staff_reply_at.
- `audit_log` replaces `account_audit` (its rows move over as entries about users).

Revision ID: 0008_thread_history
Revises: 0007_sessions_and_jobs
Create Date: 2026-12-03 15:44:46

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_thread_history'
down_revision = '0007_sessions_and_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=10), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_audit_log_subject', ['subject_type', 'subject_id', 'created_at'], unique=False)

    op.create_table('thread_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=10), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('from_category_id', sa.Integer(), nullable=True),
    sa.Column('post_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=True),
    sa.Column('note', sa.String(length=500), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_thread_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_thread_events_category_id_categories')),
    sa.ForeignKeyConstraint(['from_category_id'], ['categories.id'], name=op.f('fk_thread_events_from_category_id_categories')),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_thread_events_post_id_posts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_thread_events_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_thread_events'))
    )
    with op.batch_alter_table('thread_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thread_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_thread_events_kind_at', ['kind', 'at'], unique=False)
        batch_op.create_index('ix_thread_events_thread_id_at', ['thread_id', 'at'], unique=False)

    _copy_account_audit()
    with op.batch_alter_table('account_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_audit_actor_id'))
        batch_op.drop_index(batch_op.f('ix_account_audit_created_at'))
        batch_op.drop_index(batch_op.f('ix_account_audit_user_id'))

    op.drop_table('account_audit')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=10), server_default='visible', nullable=False))
        batch_op.add_column(sa.Column('hidden_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hidden_reason', sa.String(length=500), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_posts_hidden_by_id'), ['hidden_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_posts_hidden_by_id_users'), 'users', ['hidden_by_id'], ['id'])

    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_staff_reply_post_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_note', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('closed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('state', sa.String(length=10), server_default='visible', nullable=False))
        batch_op.add_column(sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('hidden_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hidden_reason', sa.String(length=500), server_default='', nullable=False))
        batch_op.drop_index(batch_op.f('ix_threads_deleted_at_created_at'))
        batch_op.drop_index(batch_op.f('ix_threads_deleted_at_last_activity_at'))
        batch_op.create_index(batch_op.f('ix_threads_closed_by_id'), ['closed_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_threads_first_staff_reply_post_id'), ['first_staff_reply_post_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_threads_hidden_by_id'), ['hidden_by_id'], unique=False)
        batch_op.create_index('ix_threads_state_created_at', ['state', 'created_at'], unique=False)
        batch_op.create_index('ix_threads_state_last_activity_at', ['state', 'last_activity_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_threads_first_staff_reply_post_id_posts'), 'posts', ['first_staff_reply_post_id'], ['id'], ondelete='SET NULL', use_alter=True)
        batch_op.create_foreign_key(batch_op.f('fk_threads_hidden_by_id_users'), 'users', ['hidden_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_threads_closed_by_id_users'), 'users', ['closed_by_id'], ['id'])

    _fill_states()
    _write_history()


_AUDIT = sa.table(
    'audit_log', sa.column('actor_id', sa.Integer), sa.column('action', sa.String),
    sa.column('subject_type', sa.String), sa.column('subject_id', sa.Integer), sa.column('before', sa.JSON),
    sa.column('after', sa.JSON), sa.column('reason', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
)
_KEYS = {'role': 'role', 'crm-id': 'crm'}


_ACCOUNT_AUDIT = sa.table(
    'account_audit', sa.column('id', sa.Integer), sa.column('actor_id', sa.Integer), sa.column('user_id', sa.Integer),
    sa.column('action', sa.String), sa.column('old_value', sa.String), sa.column('new_value', sa.String),
    sa.column('reason', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
)


def _copy_account_audit():
    connection = op.get_bind()
    old = _ACCOUNT_AUDIT.c
    rows = connection.execute(sa.select(old.actor_id, old.user_id, old.action, old.old_value, old.new_value,
                                        old.reason, old.created_at).order_by(old.id)).all()
    for actor_id, user_id, action, old, new, reason, created_at in rows:
        key = _KEYS.get(action)
        connection.execute(_AUDIT.insert().values(
            actor_id=actor_id, action=action, subject_type='user', subject_id=user_id,
            before={key: old} if key else None, after={key: new} if key else None, reason=reason or '',
            created_at=created_at))


def _fill_states():
    run = op.get_bind().execute
    run(sa.text("UPDATE threads SET state = 'deleted' WHERE deleted_at IS NOT NULL"))
    run(sa.text("UPDATE posts SET state = 'deleted' WHERE deleted_at IS NOT NULL"))
    # A thread's own state governs its question; only answers are hidden one by one.
    run(sa.text("UPDATE posts SET state = 'hidden' WHERE deleted_at IS NULL AND hidden_at IS NOT NULL "
                "AND kind = 'answer'"))
    # An accepted answer that is not visible is no solution (the services never leave one).
    run(sa.text("UPDATE threads SET accepted_post_id = NULL, accepted_by_id = NULL, solved_at = NULL "
                "WHERE accepted_post_id IN (SELECT id FROM posts WHERE state != 'visible')"))
    run(sa.text("UPDATE threads SET close_reason = 'other' WHERE close_reason = 'staff'"))
    run(sa.text(
        "UPDATE threads SET first_staff_reply_post_id = ("
        " SELECT p.id FROM posts p WHERE p.thread_id = threads.id AND p.kind = 'answer'"
        " AND p.state = 'visible' AND p.author_id != threads.author_id AND p.author_role IN ('staff', 'admin')"
        " ORDER BY p.created_at, p.id LIMIT 1)"
        " WHERE first_staff_reply_at IS NOT NULL"))


# (kind, time, actor, actor's role, post, reason, condition): one INSERT ... SELECT each.
_QUESTION_AUTHOR_ROLE = (
    "(SELECT p.author_role FROM posts p WHERE p.thread_id = t.id AND p.kind = 'question' ORDER BY p.id LIMIT 1)")
_USER_ROLE = "(SELECT u.role FROM users u WHERE u.id = {})"
_POST_AUTHOR = "(SELECT p.author_id FROM posts p WHERE p.id = {})"
_POST_ROLE = "(SELECT p.author_role FROM posts p WHERE p.id = {})"
_THREAD_EVENTS = [
    ("created", "t.created_at", "t.author_id", _QUESTION_AUTHOR_ROLE,
     "(SELECT p.id FROM posts p WHERE p.thread_id = t.id AND p.kind = 'question' ORDER BY p.id LIMIT 1)",
     "NULL", "1 = 1"),
    ("urgent_raised", "t.created_at", "t.author_id", _QUESTION_AUTHOR_ROLE, "NULL", "NULL", "t.is_urgent"),
    ("first_reply", "t.first_reply_at", _POST_AUTHOR.format("t.first_reply_post_id"),
     _POST_ROLE.format("t.first_reply_post_id"), "t.first_reply_post_id", "NULL",
     "t.first_reply_post_id IS NOT NULL"),
    ("first_staff_reply", "t.first_staff_reply_at", _POST_AUTHOR.format("t.first_staff_reply_post_id"),
     _POST_ROLE.format("t.first_staff_reply_post_id"), "t.first_staff_reply_post_id", "NULL",
     "t.first_staff_reply_post_id IS NOT NULL"),
    ("accepted", "t.solved_at", "t.accepted_by_id", _USER_ROLE.format("t.accepted_by_id"), "t.accepted_post_id",
     "NULL", "t.accepted_post_id IS NOT NULL AND t.solved_at IS NOT NULL"),
    ("closed", "t.closed_at", "NULL", "NULL", "NULL", "t.close_reason", "t.closed_at IS NOT NULL"),
    # When a thread was locked was never stored: its last activity is the closest known moment.
    ("locked", "t.last_activity_at", "NULL", "NULL", "NULL", "NULL", "t.is_locked"),
    ("deleted", "t.deleted_at", "t.deleted_by_id", _USER_ROLE.format("t.deleted_by_id"), "NULL", "NULL",
     "t.deleted_at IS NOT NULL"),
]
_REPLY_EVENTS = [
    ("reply_deleted", "p.deleted_at", "p.deleted_by_id", _USER_ROLE.format("p.deleted_by_id"), "NULL",
     "p.deleted_at IS NOT NULL"),
    ("reply_hidden", "p.hidden_at", "NULL", "NULL", "'hidden'", "p.hidden_at IS NOT NULL"),
]


def _write_history():
    run = op.get_bind().execute
    columns = "thread_id, kind, at, actor_id, actor_role, category_id, post_id, reason, note"
    for kind, at, actor, role, post, reason, condition in _THREAD_EVENTS:
        run(sa.text(f"INSERT INTO thread_events ({columns}) SELECT t.id, '{kind}', {at}, {actor}, {role}, "
                    f"t.category_id, {post}, {reason}, '' FROM threads t WHERE {condition}"))
    for kind, at, actor, role, reason, condition in _REPLY_EVENTS:
        run(sa.text(f"INSERT INTO thread_events ({columns}) SELECT p.thread_id, '{kind}', {at}, {actor}, {role}, "
                    f"t.category_id, p.id, {reason}, '' FROM posts p JOIN threads t ON t.id = p.thread_id "
                    f"WHERE p.kind = 'answer' AND {condition}"))


def downgrade():
    run = op.get_bind().execute
    run(sa.text("UPDATE threads SET close_reason = 'staff' "
                "WHERE close_reason IS NOT NULL AND close_reason != 'abandoned'"))
    # Without a state, a held, hidden or spam thread or post would be public again: keep it away as
    # deleted, the one removal 0007 knows.
    for table in ('threads', 'posts'):
        run(sa.text(f"UPDATE {table} SET deleted_at = COALESCE(hidden_at, CURRENT_TIMESTAMP) "
                    f"WHERE state IN ('held', 'hidden', 'spam') AND deleted_at IS NULL"))
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_threads_closed_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_threads_hidden_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_threads_first_staff_reply_post_id_posts'), type_='foreignkey')
        batch_op.drop_index('ix_threads_state_last_activity_at')
        batch_op.drop_index('ix_threads_state_created_at')
        batch_op.drop_index(batch_op.f('ix_threads_hidden_by_id'))
        batch_op.drop_index(batch_op.f('ix_threads_first_staff_reply_post_id'))
        batch_op.drop_index(batch_op.f('ix_threads_closed_by_id'))
        batch_op.create_index(batch_op.f('ix_threads_deleted_at_last_activity_at'), ['deleted_at', 'last_activity_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_threads_deleted_at_created_at'), ['deleted_at', 'created_at'], unique=False)
        batch_op.drop_column('hidden_reason')
        batch_op.drop_column('hidden_by_id')
        batch_op.drop_column('hidden_at')
        batch_op.drop_column('state')
        batch_op.drop_column('closed_by_id')
        batch_op.drop_column('close_note')
        batch_op.drop_column('first_staff_reply_post_id')

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_posts_hidden_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_posts_hidden_by_id'))
        batch_op.drop_column('hidden_reason')
        batch_op.drop_column('hidden_by_id')
        batch_op.drop_column('state')

    op.create_table('account_audit',
    sa.Column('id', sa.INTEGER(), nullable=False),
    sa.Column('actor_id', sa.INTEGER(), nullable=True),
    sa.Column('user_id', sa.INTEGER(), nullable=False),
    sa.Column('action', sa.VARCHAR(length=40), nullable=False),
    sa.Column('old_value', sa.VARCHAR(length=200), nullable=True),
    sa.Column('new_value', sa.VARCHAR(length=200), nullable=True),
    sa.Column('reason', sa.VARCHAR(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_account_audit_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_audit_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_audit'))
    )
    with op.batch_alter_table('account_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_audit_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_audit_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_audit_actor_id'), ['actor_id'], unique=False)

    with op.batch_alter_table('thread_events', schema=None) as batch_op:
        batch_op.drop_index('ix_thread_events_thread_id_at')
        batch_op.drop_index('ix_thread_events_kind_at')
        batch_op.drop_index(batch_op.f('ix_thread_events_actor_id'))

    op.drop_table('thread_events')
    connection = op.get_bind()
    for actor_id, action, subject_id, before, after, reason, created_at in connection.execute(
            sa.select(_AUDIT.c.actor_id, _AUDIT.c.action, _AUDIT.c.subject_id, _AUDIT.c.before, _AUDIT.c.after,
                      _AUDIT.c.reason, _AUDIT.c.created_at).where(_AUDIT.c.subject_type == 'user')).all():
        key = _KEYS.get(action)
        connection.execute(_ACCOUNT_AUDIT.insert().values(
            actor_id=actor_id, user_id=subject_id, action=action, reason=reason or '', created_at=created_at,
            old_value=(before or {}).get(key) if key else None, new_value=(after or {}).get(key) if key else None))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_subject')
        batch_op.drop_index(batch_op.f('ix_audit_log_created_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_id'))

    op.drop_table('audit_log')
