"""How a page view's transaction ends: a COMMIT when it only read (so PostgreSQL keeps the
statements psycopg prepared), a ROLLBACK whenever something was written and not committed."""

import sqlalchemy as sa

from accounts.models import User
from core.extensions import db
from tests.factories import make_category, make_user


def _bio(user_id: int) -> str:
    return db.session.scalar(sa.select(User.bio).where(User.id == user_id)) or ""


def test_a_get_that_wrote_without_committing_is_rolled_back(app, client):
    user_id = make_user(username="writer").id

    @app.route("/test/flush-bio/<int:user_id>")
    def flush_bio(user_id):
        db.session.get(User, user_id).bio = "changed by a GET"
        db.session.flush()
        return "flushed"

    @app.route("/test/update-bio/<int:user_id>")
    def update_bio(user_id):
        db.session.execute(sa.update(User).where(User.id == user_id).values(bio="updated by a GET"))
        return "updated"

    assert client.get(f"/test/flush-bio/{user_id}").status_code == 200
    assert client.get(f"/test/update-bio/{user_id}").status_code == 200
    assert _bio(user_id) == ""


def test_a_failing_get_is_rolled_back(app, client):
    user_id = make_user(username="failing").id
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/test/fail/<int:user_id>")
    def fail(user_id):
        db.session.get(User, user_id).bio = "half done"
        db.session.flush()
        raise RuntimeError("boom")

    assert client.get(f"/test/fail/{user_id}").status_code == 500
    assert _bio(user_id) == ""


def test_page_views_keep_prepared_statements_on_postgresql(make_app):
    app = make_app("postgresql")  # prepared statements are psycopg's
    client = app.test_client()
    with app.app_context():
        make_category("Billing")
    for _ in range(8):  # psycopg prepares a statement on its fifth run on a connection
        assert client.get("/").status_code == 200
    with app.app_context():
        prepared = db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared > 0


def _generic_plans_of_the_list_query(app) -> int:
    """How many times PostgreSQL ran the latest list's prepared statement with its generic plan."""
    with app.app_context():
        return db.session.scalar(sa.text(
            "SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE '%FROM threads%' AND statement LIKE '%LIMIT%'"))


def test_prepared_page_statements_run_a_generic_plan_on_postgresql(make_app):
    """The pages' statements are not planned again for each visitor's values (planning was nearly
    half of a list query's time); PEERLINE_PG_GENERIC_PLANS=0 leaves it to PostgreSQL."""
    app = make_app("postgresql")
    client = app.test_client()
    with app.app_context():
        make_category("Billing")
    for _ in range(8):
        assert client.get("/").status_code == 200
    assert _generic_plans_of_the_list_query(app) >= 2

    left_alone = make_app("postgresql", PEERLINE_PG_GENERIC_PLANS=False)
    with left_alone.app_context():
        assert db.session.scalar(sa.text("SHOW plan_cache_mode")) == "auto"
