"""Migrations build the schema from nothing on SQLite and PostgreSQL, and match the models."""

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from core.extensions import db
from tests.conftest import base_config, postgres_url_for
from tests.services import POSTGRES_URL, postgres_available, require


@pytest.fixture
def empty_database_url(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    require(postgres_available(), f"PostgreSQL is not reachable at {POSTGRES_URL}")
    schema = f"peerline_migrate_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield postgres_url_for(schema)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_upgrade_from_empty_matches_the_models_and_downgrades(empty_database_url, tmp_path):
    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"
        assert "users" in sa.inspect(db.engine).get_table_names()
        downgrade(revision="base")
        assert "users" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(make_app):
    with make_app("sqlite").app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_batch_migration_on_sqlite_keeps_rows_that_refer_to_the_rebuilt_table(tmp_path):
    """SQLite rebuilds a table to alter it; with foreign keys on, that would cascade-delete."""
    import shutil
    from pathlib import Path

    from accounts.models import AuditEntry, ExternalIdentity
    from tests.factories import make_user

    directory = tmp_path / "migrations"
    shutil.copytree(Path(__file__).resolve().parents[2] / "migrations", directory)
    head = sorted(p.stem for p in (directory / "versions").glob("0*.py"))[-1]
    (directory / "versions" / "9999_widen_display_name.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\n"
        f"revision = '9999_widen'\ndown_revision = '{head}'\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n"
        "    with op.batch_alter_table('users') as batch:\n"
        "        batch.alter_column('display_name', type_=sa.String(80))\n"
        "def downgrade():\n    pass\n"
    )
    url = f"sqlite:///{tmp_path / 'seeded.sqlite3'}"
    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=str(directory), revision=head)
        user = make_user(username="ada")
        user.identities.append(ExternalIdentity(kind="github", value="ada-gh"))
        db.session.add(AuditEntry(actor_id=user.id, subject_type="user", subject_id=user.id, action="test"))
        db.session.commit()
        upgrade(directory=str(directory))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ExternalIdentity)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1
        db.engine.dispose()


def test_the_reputation_migration_counts_what_was_already_there(empty_database_url, tmp_path):
    """0003 fills `reputations` from votes and accepted answers saved before it, by the app's rules."""
    from forum import reputation

    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0002_forum")
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        with db.engine.begin() as conn:
            run = lambda sql: conn.execute(sa.text(sql).bindparams(now=now))  # noqa: E731
            for uid in (1, 2, 3, 4):
                run(f"INSERT INTO users (id, email, username, username_key, display_name, bio, role, "
                    f"password_hash, is_active_account, session_token, created_at) "
                    f"VALUES ({uid}, 'u{uid}@example.com', 'u{uid}', 'u{uid}', '', '', 'member', '', true, "
                    f"'token{uid}', :now)")
            run("INSERT INTO categories (id, name, slug, description, position, created_at) "
                "VALUES (1, 'Help', 'help', '', 0, :now)")
            run("INSERT INTO threads (id, category_id, author_id, title, is_urgent, urgent_reason, "
                "created_at, last_activity_at, reply_count, view_count, is_locked, reminders_sent) "
                "VALUES (1, 1, 1, 'Q', false, '', :now, :now, 2, 0, false, 0)")
            for pid, author, kind, deleted in ((1, 1, "question", None), (2, 2, "answer", None),
                                               (3, 3, "answer", "deleted")):
                run(f"INSERT INTO posts (id, thread_id, author_id, author_role, kind, body, body_html, "
                    f"score, created_at, deleted_at) "
                    f"VALUES ({pid}, 1, {author}, 'member', '{kind}', 'b', 'b', 0, :now, "
                    f"{'NULL' if deleted is None else ':now'})")
            for vid, post, voter, value in ((1, 2, 1, 1), (2, 2, 4, -1), (3, 3, 1, 1)):
                run(f"INSERT INTO votes (id, post_id, user_id, value, created_at) "
                    f"VALUES ({vid}, {post}, {voter}, {value}, :now)")
            run("UPDATE threads SET accepted_post_id = 2, accepted_by_id = 1, solved_at = :now")
        upgrade()
        stored = dict(db.session.execute(sa.text("SELECT user_id, points FROM reputations")).all())
        expected = reputation.UPVOTE_POINTS + reputation.DOWNVOTE_POINTS + reputation.ACCEPTED_POINTS
        assert stored == {2: expected}  # user 3's answer was deleted: its vote no longer counts
        assert reputation.computed() == stored
        db.session.remove()
        downgrade(revision="base")
        db.engine.dispose()


def test_the_skeleton_migration_fills_the_users_already_there(empty_database_url, tmp_path):
    """0006 gives every saved user the skeleton the app computes, and look-alikes saved before it
    (which it cannot refuse any more) keep working: the index is not unique."""
    from accounts.models import User

    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0005_ask_flows")
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        with db.engine.begin() as conn:
            for uid, name in ((1, "admin"), (2, "\u0430dmin"), (3, "Zoë_李")):
                conn.execute(sa.text(
                    "INSERT INTO users (id, email, username, username_key, display_name, bio, role, "
                    "password_hash, is_active_account, session_token, created_at) VALUES (:id, :email, "
                    ":name, :name, '', '', 'member', '', true, :token, :now)"),
                    {"id": uid, "email": f"u{uid}@example.com", "name": name, "token": f"t{uid}", "now": now})
        upgrade()
        stored = dict(db.session.execute(sa.select(User.id, User.username_skeleton)).all())
        assert stored == {1: "adrnin", 2: "adrnin", 3: "zoe\u0308_李"}
        db.session.remove()  # on SQLite the session's transaction would hold the write lock
        columns = {c["name"]: c for c in sa.inspect(db.engine).get_columns("users")}
        assert columns["username_skeleton"]["nullable"] is False
        downgrade(revision="0005_ask_flows")
        assert "username_skeleton" not in {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
        downgrade(revision="base")
        db.engine.dispose()


def test_the_history_migration_writes_the_history_the_columns_tell(empty_database_url, tmp_path):
    """0008 gives existing threads their states and history, and moves the account audit trail."""
    from accounts.models import AuditEntry
    from forum import history
    from forum.models import Post, Thread

    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007_sessions_and_jobs")
        t0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
        with db.engine.begin() as conn:
            def run(sql, **params):
                conn.execute(sa.text(sql), {"t0": t0, **params})
            for uid, role in ((1, "member"), (2, "member"), (3, "staff")):
                run("INSERT INTO users (id, email, username, username_key, username_skeleton, display_name, "
                    "bio, role, password_hash, is_active_account, created_at) VALUES (:id, :email, :name, "
                    ":name, :name, '', '', :role, '', true, :t0)",
                    id=uid, email=f"u{uid}@example.com", name=f"u{uid}", role=role)
            run("INSERT INTO categories (id, name, slug, description, position, created_at) "
                "VALUES (1, 'Help', 'help', '', 0, :t0)")
            # 1: answered by a peer and staff, accepted; 2: closed by staff, locked, urgent;
            # 3: deleted; answer 7 of thread 1 deleted, answer 8 hidden.
            shapes = ((1, False, False, None), (2, True, True, None), (3, False, False, t0))
            for tid, urgent, locked, deleted in shapes:
                run("INSERT INTO threads (id, category_id, author_id, title, is_urgent, urgent_reason, "
                    "created_at, last_activity_at, reply_count, view_count, is_locked, reminders_sent, "
                    "deleted_at, deleted_by_id) VALUES (:id, 1, 1, 'Q', :urgent, '', :t0, :t0, 0, 0, "
                    ":locked, 0, :deleted, :by)", id=tid, urgent=urgent, locked=locked, deleted=deleted,
                    by=3 if deleted else None)
            posts = ((1, 1, 1, "member", "question", None, None), (2, 2, 1, "member", "question", None, None),
                     (3, 3, 1, "member", "question", None, None), (4, 1, 2, "member", "answer", None, None),
                     (5, 1, 3, "staff", "answer", None, None), (7, 1, 2, "member", "answer", t0, None),
                     (8, 1, 2, "member", "answer", None, t0))
            for pid, tid, author, role, kind, deleted, hidden in posts:
                run("INSERT INTO posts (id, thread_id, author_id, author_role, kind, body, body_html, score, "
                    "created_at, deleted_at, deleted_by_id, hidden_at) VALUES (:pid, :tid, :author, :role, "
                    ":kind, 'b', 'b', 0, :t0, :deleted, :by, :hidden)", pid=pid, tid=tid, author=author,
                    role=role, kind=kind, deleted=deleted, by=author if deleted else None, hidden=hidden)
            run("UPDATE threads SET first_reply_post_id = 4, first_reply_at = :t0, "
                "first_staff_reply_at = :t0, accepted_post_id = 4, accepted_by_id = 1, solved_at = :t0, "
                "reply_count = 2 WHERE id = 1")
            run("UPDATE threads SET closed_at = :t0, close_reason = 'staff' WHERE id = 2")
            run("INSERT INTO account_audit (actor_id, user_id, action, old_value, new_value, reason, "
                "created_at) VALUES (3, 2, 'role', 'member', 'advocate', 'helpful', :t0)")
        upgrade()
        states = dict(db.session.execute(sa.select(Thread.id, Thread.state)).all())
        assert states == {1: "visible", 2: "visible", 3: "deleted"}
        removed = db.session.execute(sa.select(Post.id, Post.state).where(Post.id.in_([7, 8]))).all()
        assert dict(removed) == {7: "deleted", 8: "hidden"}
        first = db.session.get(Thread, 1)
        assert first.first_staff_reply_post_id == 5
        assert db.session.get(Thread, 2).close_reason == "other"
        assert [e.kind for e in history.events_for(1)] == [
            "created", "first_reply", "first_staff_reply", "accepted", "reply_deleted", "reply_hidden"]
        assert sorted(e.kind for e in history.events_for(2)) == [
            "closed", "created", "locked", "urgent_raised"]
        assert [e.kind for e in history.events_for(3)] == ["created", "deleted"]
        assert history.check() == []
        entry = db.session.scalar(sa.select(AuditEntry))
        assert (entry.subject_type, entry.subject_id, entry.before, entry.after, entry.reason) == (
            "user", 2, {"role": "member"}, {"role": "advocate"}, "helpful")
        db.session.remove()
        downgrade(revision="0007_sessions_and_jobs")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT old_value, new_value FROM account_audit")).all() == [
                ("member", "advocate")]
        db.engine.dispose()


def _forum_rows_at_0007(conn, now) -> None:
    """Two users, a category, a thread with its question and an answer, as 0007 stores them."""
    run = lambda sql: conn.execute(sa.text(sql).bindparams(now=now))  # noqa: E731
    for uid in (1, 2):
        run(f"INSERT INTO users (id, email, username, username_key, username_skeleton, display_name, bio, "
            f"role, password_hash, is_active_account, created_at) VALUES ({uid}, 'u{uid}@example.com', "
            f"'u{uid}', 'u{uid}', 'u{uid}', '', '', 'member', '', true, :now)")
    run("INSERT INTO categories (id, name, slug, description, position, created_at) "
        "VALUES (1, 'Help', 'help', '', 0, :now)")
    run("INSERT INTO threads (id, category_id, author_id, title, is_urgent, urgent_reason, "
        "created_at, last_activity_at, reply_count, view_count, is_locked, reminders_sent) "
        "VALUES (1, 1, 1, 'Q', false, '', :now, :now, 1, 0, false, 2)")
    for pid, author, kind in ((1, 1, "question"), (2, 2, "answer")):
        run(f"INSERT INTO posts (id, thread_id, author_id, author_role, kind, body, body_html, score, "
            f"created_at) VALUES ({pid}, 1, {author}, 'member', '{kind}', 'b', 'b', 0, :now)")


def test_the_notices_migration_keys_the_notices_already_there(empty_database_url, tmp_path):
    """0009 gives every saved notice the key the app computes for its event (reminders' stages move
    from the kind into the key), so a job run after the upgrade does not notify again; and back."""
    from forum import notices
    from forum.models import Notification

    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007_sessions_and_jobs")
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        with db.engine.begin() as conn:
            _forum_rows_at_0007(conn, now)
            for nid, kind, post in ((1, "answer", 2), (2, "reminder-1", 1), (3, "reminder-2", 1),
                                    (4, "accepted", "NULL")):
                conn.execute(sa.text(
                    f"INSERT INTO notifications (id, user_id, thread_id, post_id, kind, created_at) "
                    f"VALUES ({nid}, 1, 1, {post}, '{kind}', :now)").bindparams(now=now))
        upgrade()
        stored = db.session.execute(sa.select(Notification.id, Notification.kind, Notification.dedupe_key)
                                    .order_by(Notification.id)).all()
        assert [tuple(row) for row in stored] == [
            (1, "answer", "answer:1:2"), (2, "reminder", "reminder:1:1:1"),
            (3, "reminder", "reminder:1:1:2"), (4, "accepted", "accepted:1:-")]
        assert notices.add_notices("reminder", [1], thread_id=1, post_id=1, key="2") == [3]
        assert notices.add_notices("answer", [1], thread_id=1, post_id=2) == [1]
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 4
        db.session.remove()
        downgrade(revision="0007_sessions_and_jobs")
        with db.engine.connect() as conn:
            kinds = conn.execute(sa.text("SELECT kind FROM notifications ORDER BY id")).scalars().all()
        assert kinds == ["answer", "reminder-1", "reminder-2", "accepted"]
        downgrade(revision="base")
        db.engine.dispose()


def test_the_flows_migration_dates_the_flows_already_there(empty_database_url, tmp_path):
    """0009 gives each saved flow its latest known event; back at 0007, anonymous flows go."""
    from datetime import timedelta

    from core.clock import as_utc
    from forum.models import AskFlow

    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007_sessions_and_jobs")
        start = datetime(2026, 11, 1, 10, tzinfo=UTC)
        hour = timedelta(hours=1)
        with db.engine.begin() as conn:
            _forum_rows_at_0007(conn, start)
            for fid, opened, thread, posted in ((1, start + hour, 1, start + 2 * hour),
                                                (2, start + hour, "NULL", None), (3, None, "NULL", None)):
                conn.execute(sa.text(
                    f"INSERT INTO ask_flows (id, token, user_id, started_at, first_opened_at, opened_count, "
                    f"thread_id, posted_at) "
                    f"VALUES ({fid}, 't{fid}', 1, :start, :opened, 1, {thread}, :posted)"),
                    {"start": start, "opened": opened, "posted": posted})
        upgrade()
        stored = {row.id: (as_utc(row.last_event_at), row.category_id) for row in db.session.scalars(
            sa.select(AskFlow))}
        assert stored == {1: (start + 2 * hour, None), 2: (start + hour, None), 3: (start, None)}
        # Explicit ids above leave PostgreSQL's sequence behind: this one says its own.
        db.session.add(AskFlow(id=4, token="anonymous", user_id=None, opened_count=1, category_id=1))
        db.session.commit()
        db.session.remove()
        downgrade(revision="0007_sessions_and_jobs")
        with db.engine.connect() as conn:
            tokens = conn.execute(sa.text("SELECT token FROM ask_flows ORDER BY id")).scalars().all()
        assert tokens == ["t1", "t2", "t3"]
        downgrade(revision="base")
        db.engine.dispose()
