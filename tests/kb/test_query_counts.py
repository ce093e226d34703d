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


def test_the_thread_notice_costs_one_query(app):
    staff = factories.make_user("staff")
    thread = factories.make_solved_thread()
    client = app.test_client()
    _page, before = page_and_queries(client, f"/t/{thread.id}")
    article = services.promote_thread(staff, thread)
    services.set_status(staff, article, "published")
    page, after = page_and_queries(client, f"/t/{thread.id}")
    assert "This answer is now a KB article" in page
    assert len(after) == len(before), describe(after)
    assert len([s for s in after if "articles" in s]) == 1, describe(after)
