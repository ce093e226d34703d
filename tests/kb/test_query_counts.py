"""KB pages, and the thread page's KB notice, run a fixed number of SQL queries whatever the rows."""

import pytest

from core.extensions import db
from forum.models import Tag
from kb import services
from tests import factories
from tests.forum.test_query_counts import describe, page_and_queries

ARTICLE_PAGE_MAX_QUERIES = 12
HOME_MAX_QUERIES = 8


@pytest.fixture
def billing(app):
    db.session.add_all([Tag(name="vat"), Tag(name="invoices")])
    db.session.commit()
    return factories.make_category("Billing")


def add_related(main, category, count: int) -> None:
    """More published articles and solved threads that share a tag with `main`, and more comments."""
    staff = factories.make_user("staff")
    for _ in range(count):
        factories.make_article(staff, category=category, title="Related article", tags=["vat"])
        factories.make_solved_thread(category=category, title="Solved thread", tags=["vat"])
        services.give_feedback(factories.make_user(), main, False, "A comment")


@pytest.mark.parametrize("who", [None, "member", "advocate", "staff"])
def test_the_article_page_runs_a_fixed_number_of_queries(app, billing, who):
    main = factories.make_article(category=billing, title="The main article", tags=["vat", "invoices"])
    client = app.test_client()
    if who:
        factories.make_user(who, username=f"reader_{who}")
        client.post("/signin", data={"login": f"reader_{who}", "password": factories.PASSWORD})
    counts = []
    for more in (1, 5):
        add_related(main, billing, more)
        page, statements = page_and_queries(client, f"/kb/{main.slug}")
        shown = min(1 + 5 * (more == 5), 5)
        assert page.count("Related article</a>") == shown and page.count("Solved thread</a>") == shown
        assert len(statements) <= ARTICLE_PAGE_MAX_QUERIES, describe(statements)
        counts.append(len(statements))
    assert counts[0] == counts[1], "the number of queries grows with the rows shown"


def test_the_home_page_runs_a_fixed_number_of_queries(app, billing):
    main = factories.make_article(category=billing, title="The main article", tags=["vat"])
    counts = []
    for more in (1, 8):
        add_related(main, factories.make_category(f"Category {more}"), more)
        _page, statements = page_and_queries(app.test_client(), "/kb")
        assert len(statements) <= HOME_MAX_QUERIES, describe(statements)
        counts.append(len(statements))
    assert counts[0] == counts[1]


def article_queries(statements: list[str]) -> list[str]:
    """The notice's own query (the thread's query only asks whether there is an article)."""
    return [s for s in statements if s.lstrip().startswith("SELECT articles.")]


def test_the_thread_notice_costs_a_query_only_once_there_is_an_article(app):
    """Whether an article was made from the thread comes with the thread: a thread page without one
    runs no query for the notice, one with an article runs exactly one."""
    staff = factories.make_user("staff")
    thread = factories.make_solved_thread()
    client = app.test_client()
    _page, before = page_and_queries(client, f"/t/{thread.id}")
    assert not article_queries(before), describe(before)
    article = services.promote_thread(staff, thread)
    services.set_status(staff, article, "published")
    page, after = page_and_queries(client, f"/t/{thread.id}")
    assert "This answer is now a KB article" in page
    assert len(after) == len(before) + 1, describe(after)
    assert len(article_queries(after)) == 1, describe(after)


PROMOTE = "Promote it to a knowledge-base article"


@pytest.mark.parametrize(("who", "advocates_write_there", "offered"), [
    (None, True, False),
    ("member", True, False),
    ("advocate", False, False),
    ("advocate", True, True),
    ("staff", False, True),
])
def test_who_is_offered_to_promote_a_solved_thread(app, who, advocates_write_there, offered):
    """Only writers of the thread's category get the link: staff anywhere, advocates where the admin
    let them write. Nobody gets it for an unsolved thread."""
    admin = factories.make_user("admin")
    category = factories.make_category("Billing")
    services.set_advocate_categories(admin, [category.id] if advocates_write_there else [])
    solved = factories.make_solved_thread(category=category)
    unsolved = factories.make_thread(category=category)
    client = app.test_client()
    if who:
        factories.make_user(who, username=f"reader_{who}")
        client.post("/signin", data={"login": f"reader_{who}", "password": factories.PASSWORD})
    page, _ = page_and_queries(client, f"/t/{solved.id}")
    assert (PROMOTE in page) is offered
    page, statements = page_and_queries(client, f"/t/{unsolved.id}")
    assert PROMOTE not in page
    assert not article_queries(statements), describe(statements)


def test_an_unpublished_article_is_named_to_its_writers_only(app):
    staff = factories.make_user("staff")
    thread = factories.make_solved_thread()
    article = services.promote_thread(staff, thread)  # a draft
    reader, writer = app.test_client(), app.test_client()
    factories.make_user("member", username="reader_member")
    reader.post("/signin", data={"login": "reader_member", "password": factories.PASSWORD})
    factories.make_user("staff", username="writer_staff")
    writer.post("/signin", data={"login": "writer_staff", "password": factories.PASSWORD})
    assert "is not published" in page_and_queries(writer, f"/t/{thread.id}")[0]
    page = page_and_queries(reader, f"/t/{thread.id}")[0]
    assert "is not published" not in page and PROMOTE not in page and f"/kb/{article.slug}" not in page
