"""Thread and listing pages run a fixed, small number of SQL queries whatever the number of rows."""

import threading
from contextlib import contextmanager

import pytest
from flask import has_request_context
from sqlalchemy import event

from core import jobs
from core.extensions import db
from forum import categories, notices, services, viewcounts
from tests import factories

# A thread page's queries, SQLite's BEGIN included: the person (signed in), the thread with its
# figures, the posts with the viewer's votes; staff's picker choices are memoised.
THREAD_PAGE_MAX_QUERIES = {"anonymous": 3, "member": 4, "staff": 4}
LISTING_MAX_QUERIES = 10
TAGS = ["billing", "mobile", "sync", "login", "export", "printing"]


# --------------------------------------------------------------------------- counting


@contextmanager
def counting_queries():
    """Every statement sent to the database by a request made in this thread, in order.

    Statements outside a request (the test client ending the test's transaction before the
    request, say) and those of the in-process job runner's thread are not counted.
    """
    statements: list[str] = []
    this_thread = threading.get_ident()

    def before_cursor_execute(_conn, _cursor, statement, _parameters, _context, _executemany):
        if threading.get_ident() == this_thread and has_request_context():
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


def page_and_queries(client, url: str) -> tuple[str, list[str]]:
    """The page and the statements one GET of `url` ran, once background jobs are idle."""
    db.session.commit()
    jobs.wait_idle()
    with counting_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200, response.text
    return response.text, statements


def describe(statements: list[str]) -> str:
    return "\n".join(f"{i:3}. {' '.join(s.split())[:160]}" for i, s in enumerate(statements, 1))


# --------------------------------------------------------------------------- data, through the services


@pytest.fixture(autouse=True)
def no_views_left_buffered(app):
    """Page views wait in a process-wide buffer keyed by thread id; write ours before the next
    test's fresh database reuses the ids."""
    yield
    viewcounts.flush()


@pytest.fixture
def forum_setup(app):
    """An admin-made category tree and the tags (staff create tags by using them)."""
    admin = factories.make_user("admin")
    parent = categories.save_category(admin, None, name="Devices", slug="devices")
    child = categories.save_category(admin, None, name="Phones", slug="phones", parent_id=parent.id)
    for name in TAGS:
        services.resolve_tags(admin, [name])
    db.session.commit()
    return parent, child


def thread_with_answers(category, n_answers: int, tag_names: list[str]):
    """A member's question with `n_answers` answers by as many people, some votes and an accepted one."""
    asker = factories.make_user()
    thread = services.create_thread(asker, category.id, f"Sync stops after {n_answers} minutes",
                                    "It **stops**. What can I do?", tag_names)
    answerers = [factories.make_user() for _ in range(n_answers)]
    posts = [services.create_post(person, thread, f"Answer {i}: try turning *sync* off and on.")
             for i, person in enumerate(answerers)]
    services.vote(asker, posts[0], 1)
    services.vote(asker, posts[1], 1)
    services.vote(answerers[0], posts[1], 1)
    services.vote(answerers[1], posts[2], -1)
    services.vote(answerers[2], posts[-1], 1)
    services.accept_answer(asker, posts[1])
    return thread, posts


def add_threads(categories, how_many: int, start: int = 0) -> None:
    """Threads by different authors in the parent and child category, each with three tags;
    every third is answered, and one of those solved."""
    for i in range(start, start + how_many):
        author = factories.make_user()
        tags = ["sync", TAGS[i % len(TAGS)], TAGS[(i + 1) % len(TAGS)]]
        thread = services.create_thread(author, categories[i % 2].id, f"Question number {i}",
                                        f"Details of question {i}.", tags)
        if i % 3 == 0:
            answer = services.create_post(factories.make_user(), thread, f"An answer to {i}.")
            if i % 6 == 0:
                services.accept_answer(author, answer)


# --------------------------------------------------------------------------- thread pages


@pytest.mark.parametrize("viewer", ["anonymous", "member", "staff"])
def test_thread_page_query_count_does_not_grow_with_answers(app, client, auth, forum_setup, viewer):
    parent, _child = forum_setup
    small, small_posts = thread_with_answers(parent, 5, ["sync", "mobile"])
    large, large_posts = thread_with_answers(parent, 20, ["sync", "billing", "login"])
    if viewer != "anonymous":
        person = auth.as_role(viewer)
        for posts in (small_posts, large_posts):
            services.vote(person, posts[3], 1)
            notices.set_following(person, posts[3].thread, True)

    client.get(f"/t/{large.id}")  # once per process: the memoised choices (categories, canned replies)
    small_page, small_queries = page_and_queries(client, f"/t/{small.id}")
    large_page, large_queries = page_and_queries(client, f"/t/{large.id}")
    print(f"\nthread page ({app.config['PEERLINE_TEST_BACKEND']}, {viewer}): "
          f"{len(small_queries)} queries with 5 answers, {len(large_queries)} with 20")

    # The pages really show what was counted: every answer, the accepted one first.
    for page, posts in ((small_page, small_posts), (large_page, large_posts)):
        assert all(f'id="post-{post.id}"' in page for post in posts)
        assert page.index("Accepted answer") < page.index(f'id="post-{posts[1].id}"')
        assert page.index(f'id="post-{posts[1].id}"') < page.index(f'id="post-{posts[0].id}"')
    assert small_queries, "the listener counted nothing"
    assert len(large_queries) == len(small_queries), (
        f"5 answers:\n{describe(small_queries)}\n20 answers:\n{describe(large_queries)}")
    assert len(small_queries) <= THREAD_PAGE_MAX_QUERIES[viewer], describe(small_queries)


# --------------------------------------------------------------------------- listings


LISTINGS = {
    "latest": ("/", lambda i: True),
    "unanswered": ("/threads/unanswered", lambda i: i % 3 != 0),
    "category": ("/c/devices", lambda i: True),  # the parent's list includes its sub-category
    "tag": ("/tags/sync", lambda i: True),
}


def measure_listings(anonymous, member, how_many: int) -> dict[tuple[str, str], int]:
    """Queries per (listing, viewer), checking that each page lists the threads it should."""
    counts = {}
    for name, (url, listed) in LISTINGS.items():
        for who, client in (("anonymous", anonymous), ("member", member)):
            page, statements = page_and_queries(client, url)
            expected = [i for i in range(how_many) if listed(i)]
            assert page.count('class="thread-row') == len(expected), (name, who)
            assert all(f"Question number {i}<" in page for i in expected), (name, who)
            counts[name, who] = statements
    return counts


def test_listing_query_counts_do_not_grow_with_threads(app, client, auth, forum_setup):
    anonymous = app.test_client()
    auth.as_role("member")

    add_threads(forum_setup, 3)
    few = measure_listings(anonymous, client, 3)
    add_threads(forum_setup, 27, start=3)
    many = measure_listings(anonymous, client, 30)
    print(f"\nlistings ({app.config['PEERLINE_TEST_BACKEND']}), queries with 3 and 30 threads:")
    for key in few:
        print(f"  {LISTINGS[key[0]][0]:22} {key[1]:9} {len(few[key]):3} {len(many[key]):3}")

    assert all(few.values()), "the listener counted nothing"
    grew = {key: (len(few[key]), len(many[key])) for key in few if len(few[key]) != len(many[key])}
    assert not grew, "\n\n".join(
        f"{key}: 3 threads:\n{describe(few[key])}\n30 threads:\n{describe(many[key])}" for key in grew)
    too_many = {key: len(s) for key, s in few.items() if len(s) > LISTING_MAX_QUERIES}
    assert not too_many, "\n\n".join(f"{key}:\n{describe(few[key])}" for key in too_many)


def test_opening_a_thread_with_unread_notices_costs_one_update_once(app, client, auth, forum_setup):
    """The thread page marks the viewer's notices of the thread read: when the unread count loaded
    with the person says there are some, one query counts this thread's and one UPDATE marks them;
    with none unread, neither."""
    parent, _child = forum_setup
    person = auth.as_role("member")
    thread, _posts = thread_with_answers(parent, 5, ["sync", "mobile"])
    notices.set_following(person, thread, True)
    _page, before = page_and_queries(client, f"/t/{thread.id}")
    services.create_post(factories.make_user(), thread, "One more thing to try: sign out and in.")
    jobs.wait_idle()  # the follower's notice
    _page, reading = page_and_queries(client, f"/t/{thread.id}")
    _page, after = page_and_queries(client, f"/t/{thread.id}")
    print(f"\nthread page ({app.config['PEERLINE_TEST_BACKEND']}): {len(before)} queries, "
          f"{len(reading)} with a notice to read, {len(after)} after")
    updates = [s for s in reading if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "notifications" in updates[0], describe(reading)
    assert len(reading) == len(before) + 2, f"before:\n{describe(before)}\nreading:\n{describe(reading)}"
    assert len(after) == len(before), describe(after)
    assert not [s for s in before + after if s.lstrip().upper().startswith("UPDATE")]
