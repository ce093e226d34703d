"""Forum threads in the search index: findable after posting, gone after deletion, repaired by reconcile."""

import pytest

import search
from core import jobs
from forum import states
from tests.factories import make_answer, make_thread, make_user

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs


def hit_ids(query: str) -> list[str]:
    return [hit.doc_id for hit in search.search(query).hits]


def test_a_new_thread_and_its_answers_become_findable(app):
    thread = make_thread(title="Bank feed duplicates every transaction")
    make_answer(thread, body="Turn off the legacy Paywave connector")
    jobs.wait_idle()
    assert hit_ids("duplicates") == [f"thread:{thread.id}"]
    assert hit_ids("paywave connector") == [f"thread:{thread.id}"]


def test_a_deleted_thread_leaves_the_index(app):
    thread = make_thread(title="Recurring invoice skipped February")
    jobs.wait_idle()
    assert hit_ids("february") == [f"thread:{thread.id}"]
    states.delete_thread(make_user("staff"), thread)
    jobs.wait_idle()
    assert hit_ids("february") == []


def test_reconcile_finds_threads_written_without_events(app, runner):
    thread = make_thread(title="Imported quietly about VAT rounding")
    jobs.wait_idle()
    search.remove([f"thread:{thread.id}"])  # drift, as after an import or a lost job
    assert hit_ids("rounding") == []
    result = runner.invoke(args=["search", "reconcile"])
    assert result.exit_code == 0, result.output
    assert hit_ids("rounding") == [f"thread:{thread.id}"]
    status = runner.invoke(args=["search", "status"]).output
    assert "thread" in status


def test_the_search_page_shows_highlighted_results_and_never_fails(app, client):
    thread = make_thread(title="Bank feed duplicates every <b>transaction</b>")
    jobs.wait_idle()
    page = client.get("/search?q=duplicates")
    assert page.status_code == 200
    assert f'href="/t/{thread.id}"' in page.text and 'class="match"' in page.text
    assert "<b>transaction</b>" not in page.text  # the title's HTML is shown as text
    for ugly in ["", "x" * 10_000, '"unbalanced', "((", "nosuchfield:x", "*", "ünïcödé"]:
        assert client.get("/search", query_string={"q": ugly}).status_code == 200, ugly
    data = client.get("/search.json?q=duplicates").get_json()
    assert data["results"][0]["url"] == f"/t/{thread.id}"
    assert client.get("/search/suggest.json?q=bank").get_json()["results"][0]["url"] == f"/t/{thread.id}"
