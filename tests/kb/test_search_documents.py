"""KB articles in the search index: findable once published, re-indexed on edits, gone when archived,
unpublished or deleted, and repaired by reconcile."""

import pytest

import search
from core import jobs
from kb import services
from tests.factories import make_article, make_user

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs


def hit_ids(query: str, **filters) -> list[str]:
    return [hit.doc_id for hit in search.search(query, filters or None).hits]


def test_an_article_is_findable_only_while_published(app):
    staff = make_user("staff")
    article = make_article(staff, title="Reconnect a bank feed", body="Renew the open banking consent",
                           status="draft")
    jobs.wait_idle()
    assert hit_ids("consent") == []
    services.set_status(staff, article, "published")
    jobs.wait_idle()
    assert hit_ids("consent") == [f"article:{article.id}"]
    [hit] = search.search("consent").hits
    assert (hit.kind, hit.url, hit.title) == ("article", f"/kb/{article.slug}", "Reconnect a bank feed")
    assert hit_ids("consent", kind="article") == [f"article:{article.id}"]
    services.set_status(staff, article, "archived")
    jobs.wait_idle()
    assert hit_ids("consent") == []
    services.set_status(staff, article, "published")
    services.set_status(staff, article, "draft")
    jobs.wait_idle()
    assert hit_ids("consent") == []


def test_edits_and_restores_are_reindexed_and_deletes_removed(app):
    staff = make_user("staff")
    article = make_article(staff, title="Credit notes", body="Refund the customer")
    jobs.wait_idle()
    services.edit_article(staff, article, title="Credit notes", body="Apply the credit to the next invoice",
                          slug="credit-notes-explained")
    jobs.wait_idle()
    assert hit_ids("refund") == [] and hit_ids("apply credit") == [f"article:{article.id}"]
    assert search.search("apply credit").hits[0].url == "/kb/credit-notes-explained"
    first = min(services.revisions(staff, article), key=lambda r: r.number)
    services.restore_revision(staff, article, first.id)
    jobs.wait_idle()
    assert hit_ids("refund") == [f"article:{article.id}"]
    services.delete_article(staff, article)
    jobs.wait_idle()
    assert hit_ids("refund") == []


def test_reconcile_indexes_published_articles_written_without_jobs(app, runner):
    article = make_article(title="Bank rules for fuel cards")
    draft = make_article(title="Fuel card draft", status="draft")
    jobs.wait_idle()
    search.remove([f"article:{article.id}"])  # drift, as after a lost job
    assert hit_ids("fuel") == []
    result = runner.invoke(args=["search", "reconcile"])
    assert result.exit_code == 0, result.output
    assert hit_ids("fuel") == [f"article:{article.id}"]
    assert f"article:{draft.id}" not in hit_ids("draft")
    assert "article" in runner.invoke(args=["search", "status"]).output
