"""Migrations build the schema from nothing on SQLite and PostgreSQL, and match the models."""

import uuid

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
        db.session.add(AuditEntry(actor_id=user.id, user_id=user.id, action="test"))
        db.session.commit()
        upgrade(directory=str(directory))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ExternalIdentity)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1
        db.engine.dispose()
