"""Notices of registered kinds with an optional thread, unique per person and event; ask flows of
visitors who are not signed in, with their category and the time of their latest event

Notices were unique on (user, thread, post, kind); with the thread optional and the post often
absent, NULLs (distinct in a unique constraint on SQLite and PostgreSQL alike) would let a job
that runs twice notify twice, so each notice now stores a non-null `dedupe_key` naming its event.
Reminders were of the kinds `reminder-1`, `reminder-2`; they become the kind `reminder`, the stage
moving into the key. Existing flows take their latest known event (question, or first suggestion
opened, or start) as `last_event_at`.

Revision ID: 0009_notices_and_flows
Revises: 0008_thread_history
Create Date: 2026-12-03 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_notices_and_flows'
down_revision = '0008_thread_history'
branch_labels = None
depends_on = None


def _text(column: str) -> str:
    return f"COALESCE(CAST({column} AS VARCHAR(20)), '-')"


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=200), nullable=True))
        # Before reminders change kind: two stages of one reminder would be one (user, thread, post, kind).
        batch_op.drop_constraint('uq_notifications_user_id_thread_id_post_id_kind', type_='unique')
    # forum.notices.dedupe_key: kind:thread:post, and the reminder's stage as the key.
    op.execute(
        "UPDATE notifications SET dedupe_key = "
        f"kind || ':' || {_text('thread_id')} || ':' || {_text('post_id')} "
        "WHERE kind NOT LIKE 'reminder-%'")
    op.execute(
        "UPDATE notifications SET dedupe_key = "
        f"'reminder:' || {_text('thread_id')} || ':' || {_text('post_id')} || ':' || SUBSTR(kind, 10), "
        "kind = 'reminder' WHERE kind LIKE 'reminder-%'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('dedupe_key', existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column('thread_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_notifications_user_id_dedupe_key'),
                                          ['user_id', 'dedupe_key'])

    with op.batch_alter_table('ask_flows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ask_flows_category_id_categories'), 'categories',
                                    ['category_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE ask_flows SET last_event_at = COALESCE(posted_at, first_opened_at, started_at)")
    with op.batch_alter_table('ask_flows', schema=None) as batch_op:
        batch_op.alter_column('last_event_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    # Flows of visitors who were not signed in, and notices with no thread, had no place before.
    op.execute("DELETE FROM ask_flows WHERE user_id IS NULL")
    with op.batch_alter_table('ask_flows', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_ask_flows_category_id_categories'), type_='foreignkey')
        batch_op.drop_column('last_event_at')
        batch_op.drop_column('category_id')

    op.execute("DELETE FROM notifications WHERE thread_id IS NULL")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_notifications_user_id_dedupe_key'), type_='unique')
    op.execute(
        "UPDATE notifications SET kind = 'reminder-' || REPLACE(dedupe_key, "
        f"'reminder:' || {_text('thread_id')} || ':' || {_text('post_id')} || ':', '') "
        "WHERE kind = 'reminder'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_notifications_user_id_thread_id_post_id_kind',
                                          ['user_id', 'thread_id', 'post_id', 'kind'])
        batch_op.alter_column('thread_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('dedupe_key')
