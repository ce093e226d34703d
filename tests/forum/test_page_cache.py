"""The anonymous page cache: served without queries, refreshed by forum changes, never for members."""

import sqlalchemy as sa

from core.extensions import db
from tests.factories import PASSWORD, make_answer, make_category, make_thread, make_user


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


def _rendered_templates(app, func) -> list[str]:
    from flask import template_rendered

    names = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    try:
        func()
    finally:
        template_rendered.disconnect(record, app)
    return names


def test_rows_and_posts_are_drawn_once_and_redrawn_when_anything_they_show_changes(make_app):
    """Fragments are keyed by what they show: reused while it holds, never stale after a change."""
    from accounts import services as account_services
    from accounts.models import User
    from forum import services
    from forum.models import Post, Thread

    app = make_app("sqlite")
    client = app.test_client()
    with app.app_context():
        asker, helper, voter = make_user(), make_user(display_name="Helpful Hana"), make_user()
        thread = make_thread(asker, title="Sync stalls at 99%")
        answer = make_answer(thread, helper)
        thread_id, answer_id, voter_id, helper_id = thread.id, answer.id, voter.id, helper.id
    first = _rendered_templates(app, lambda: client.get(f"/t/{thread_id}"))
    assert first.count("forum/_post.html") == 2
    again = _rendered_templates(app, lambda: client.get(f"/t/{thread_id}"))
    assert "forum/_post.html" not in again  # both posts reused
    assert _rendered_templates(app, lambda: client.get("/")).count("forum/_thread_row.html") == 1
    assert "forum/_thread_row.html" not in _rendered_templates(app, lambda: client.get("/"))
    with app.app_context():
        services.vote(db.session.get(User, voter_id), db.session.get(Post, answer_id), 1)
        hana = db.session.get(User, helper_id)
        account_services.update_profile(hana, hana, "Hana the Helper", "")
    page = client.get(f"/t/{thread_id}").text
    assert "Hana the Helper" in page and "Helpful Hana" not in page
    assert 'aria-label="score">1<' in page and 'title="reputation">10<' in page
    with app.app_context():
        make_answer(db.session.get(Thread, thread_id), db.session.get(User, voter_id))
    redrawn = _rendered_templates(app, lambda: client.get("/"))
    assert redrawn.count("forum/_thread_row.html") == 1  # its answer count changed
    assert "<strong>2</strong> answers" in client.get("/").text


def test_viewers_alike_share_a_post_but_each_gets_their_own_csrf_token(make_app):
    import re

    app = make_app("sqlite", WTF_CSRF_ENABLED=True)
    with app.app_context():
        thread = make_thread(title="Shared fragments")
        make_answer(thread)
        thread_id = thread.id
        first, second = make_user(), make_user()
        names = first.username, second.username
    pages, drawn = [], []
    for name in names:
        client = app.test_client()
        signin = client.get("/signin").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', signin).group(1)
        client.post("/signin", data={"login": name, "password": PASSWORD, "csrf_token": token})
        drawn.append(_rendered_templates(app, lambda c=client: pages.append(c.get(f"/t/{thread_id}").text)))
    assert drawn[0].count("forum/_post.html") == 2 and "forum/_post.html" not in drawn[1]
    for page in pages:
        tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
        assert len(tokens) == 1, "every form on a page carries the viewer's one token"
    assert set(re.findall(r'name="csrf_token" value="([^"]+)"', pages[0])).isdisjoint(
        re.findall(r'name="csrf_token" value="([^"]+)"', pages[1]))


def test_a_page_asks_redis_for_the_content_version_once_and_sees_other_processes_changes(make_app):
    from redis import Redis

    from core import jobs, pagecache
    from forum.models import Category
    from tests.services import REDIS_URL, redis_available, require

    require(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    Redis.from_url(REDIS_URL).flushdb()
    app = make_app("sqlite", REDIS_URL=REDIS_URL, PEERLINE_MEMO_SECONDS=60)
    client = app.test_client()
    with app.app_context():
        category = make_category("Billing")
        make_thread(title="Where is my invoice?", category=category)
        category_id = category.id
        redis = jobs.dispatcher(app).redis_if_up()
        assert redis is not None
    reads = []
    real_get = redis.get
    redis.get = lambda key: reads.append(key) or real_get(key)
    try:
        assert "Billing" in client.get("/").text
        asked = reads.count(pagecache.VERSION_KEY)
        assert asked == 1, f"the list page asked Redis {asked} times for the version"
        # Another process renames the category and bumps the shared version.
        with app.app_context():
            db.session.execute(sa.update(Category).where(Category.id == category_id).values(name="Invoices"))
            db.session.commit()
        real_get.__self__.incr(pagecache.VERSION_KEY)
        page = client.get("/").text
        assert "Invoices" in page and ">Billing<" not in page
    finally:
        redis.get = real_get
        Redis.from_url(REDIS_URL).flushdb()
