"""The anonymous page cache: served without queries, refreshed by forum changes, never for members."""

import sqlalchemy as sa

from core.extensions import db
from tests.factories import PASSWORD, make_answer, make_thread, make_user


def queries_during(app, func) -> int:
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        func()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_anonymous_pages_come_from_the_cache_until_the_forum_changes(make_app):
    app = make_app("sqlite", PEERLINE_PAGE_CACHE_SECONDS=30, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        thread = make_thread(title="Cached question about payouts")
        thread_id = thread.id
    first = client.get(f"/t/{thread_id}")
    assert first.status_code == 200
    assert "Set-Cookie" not in first.headers  # an anonymous thread page leaves the session alone
    assert queries_during(app, lambda: client.get(f"/t/{thread_id}")) == 0
    assert queries_during(app, lambda: client.get("/")) > 0
    assert queries_during(app, lambda: client.get("/")) == 0
    with app.app_context():
        make_answer(db.session.get(type(thread), thread_id), body="Payouts run on Tuesdays")
    assert "Payouts run on Tuesdays" in client.get(f"/t/{thread_id}").text  # the answer bumped the version


def test_signed_in_people_always_get_a_fresh_page(make_app):
    app = make_app("sqlite", PEERLINE_PAGE_CACHE_SECONDS=30)
    client = app.test_client()
    with app.app_context():
        make_user(username="ada")
    client.get("/")
    client.post("/signin", data={"login": "ada", "password": PASSWORD})
    page = client.get("/").text
    assert "You are signed in as" in page
    assert queries_during(app, lambda: client.get("/")) > 0
