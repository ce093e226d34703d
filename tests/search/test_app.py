"""Search inside the app: init_app, the jobs on the `search` queue (in-process runner), the cron
line for reconcile, and the `flask search` commands."""

from urllib.parse import parse_qs, urlsplit

import html5lib
import pytest
import sqlalchemy as sa

import app as app_module
import search
from core import jobs
from core.extensions import db
from search import jobs as search_jobs
from search.documents import DocumentError
from tests.search.conftest import tick

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs

RECONCILE = jobs.Periodic("search.reconcile-index", search_jobs.reconcile_index, every=600, queue="search")


@pytest.fixture
def search_app(make_app, source, monkeypatch):
    """The app, its search engine filled from the fake source instead of the forum's tables."""
    if not any(entry.id == RECONCILE.id for entry in app_module.CRON_TABLE):
        monkeypatch.setattr(app_module, "CRON_TABLE", (*app_module.CRON_TABLE, RECONCILE))
    app = make_app("sqlite")
    search.init_app(app, source.registry())
    with app.app_context():
        yield app
        search.current_engine().close()


def doc_ids(results):
    return [hit.doc_id for hit in results.hits]


def search_records():
    return list(db.session.scalars(
        sa.select(jobs.JobRecord).where(jobs.JobRecord.queue == "search").order_by(jobs.JobRecord.id)))


def test_init_app_uses_the_configured_folder(search_app):
    assert search.current_engine().path.name == "search-index"
    assert str(search.current_engine().path) == search_app.config["SEARCH_INDEX_DIR"]
    assert "search" in search_app.cli.commands


def test_without_init_app_the_error_says_what_to_do(make_app):
    app = make_app("sqlite")
    app.extensions.pop("peerline_search", None)
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        search.current_engine()


def test_index_job_runs_on_the_search_queue_after_commit(search_app, source):
    source.put("thread:1", "Router drops wifi", "Every evening at eight.")
    search_jobs.enqueue_index(["thread:1"])
    db.session.commit()
    jobs.wait_idle()
    assert doc_ids(search.search("router")) == ["thread:1"]
    [record] = search_records()
    assert (record.func, record.args, record.status) == (
        "search.jobs:index_documents", '[["thread:1"]]', jobs.DONE)


def test_a_rolled_back_change_indexes_nothing(search_app, source):
    source.put("thread:1", "Router drops wifi", "x")
    search_jobs.enqueue_index(["thread:1"])
    db.session.rollback()
    jobs.wait_idle()
    assert search.search("router").unavailable  # no write ever happened: there is no index yet


def test_deleted_or_hidden_content_leaves_the_index(search_app, source):
    source.put("thread:1", "Router drops wifi", "x")
    source.put("thread:2", "Router firmware", "y")
    search.index(list(source.docs.values()))
    source.drop("thread:1")  # the loader no longer returns it: deleted, or hidden by a moderator
    search_jobs.enqueue_index(["thread:1"])
    db.session.commit()
    jobs.wait_idle()
    assert doc_ids(search.search("router")) == ["thread:2"]
    search_jobs.enqueue_remove(["thread:2"])
    db.session.commit()
    jobs.wait_idle()
    assert doc_ids(search.search("router")) == []


def test_jobs_are_safe_to_run_twice(search_app, source):
    source.put("thread:1", "Router drops wifi", "x")
    for _ in range(2):
        search_jobs.index_documents(["thread:1"])
        search_jobs.remove_documents(["thread:9"])
    assert search.status().counts == {"thread": 1}


def test_malformed_ids_are_refused_when_enqueued(search_app):
    with pytest.raises(DocumentError):
        search_jobs.enqueue_index(["not an id"])
    with pytest.raises(DocumentError):
        search_jobs.index_documents([{"thread": 1}])


def test_the_reconcile_cron_line_runs_and_repairs_drift(search_app, source):
    source.put("thread:1", "Router drops wifi", "x")
    jobs.run_periodic("search.reconcile-index")  # no index yet: built from the source
    assert doc_ids(search.search("router")) == ["thread:1"]
    source.put("thread:1", "Mesh drops wifi", "x", updated_at=tick())
    source.put("article:1", "Router guide", "y")
    jobs.run_periodic("search.reconcile-index")
    assert doc_ids(search.search("router")) == ["article:1"]
    run = db.session.get(jobs.PeriodicRun, "search.reconcile-index")
    assert (run.last_status, run.runs) == (jobs.DONE, 2)


def test_cli_rebuild_status_and_reconcile(search_app, source):
    runner = search_app.test_cli_runner()
    for n in range(1, 4):
        source.put(f"thread:{n}", f"Router {n}", "x")
    source.put("article:1", "Router guide", "y")

    result = runner.invoke(args=["search", "status"])
    assert result.exit_code == 0, result.output
    assert "unavailable" in result.output and "flask search rebuild" in result.output

    result = runner.invoke(args=["search", "rebuild", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Indexing" in result.output and "Indexed 4 documents" in result.output

    source.drop("thread:3")
    result = runner.invoke(args=["search", "status"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:] if line.strip()}
    assert lines["thread"] == ["2", "3"] and lines["article"] == ["1", "1"]
    assert "flask search reconcile" in result.output

    result = runner.invoke(args=["search", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "removed 1" in result.output
    assert search.status().counts == {"thread": 2, "article": 1}


def test_cli_rebuild_restores_a_corrupt_index(search_app, source):
    source.put("thread:1", "Router drops wifi", "x")
    runner = search_app.test_cli_runner()
    assert runner.invoke(args=["search", "rebuild"]).exit_code == 0
    search.current_engine().close()
    for path in search.current_engine().path.iterdir():
        path.write_bytes(b"not an index")
    assert search.search("router").unavailable
    assert "unavailable" in runner.invoke(args=["search", "status"]).output
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert doc_ids(search.search("router")) == ["thread:1"]


# --- the /search page ----------------------------------------------------------------------------------


def _link(page: str, rel: str) -> str:
    anchor = html5lib.parse(page, namespaceHTMLElements=False).find(f".//a[@rel='{rel}']")
    return anchor.get("href") if anchor is not None else ""


def _widgets(source):
    for n in range(1, 26):
        source.put(f"article:{n}", f"Widget guide {n}", "widget", category="billing")
        source.put(f"thread:{n}", f"Widget question {n}", "widget", category="billing", solved=n % 2 == 0)
    source.put("thread:99", "Widget elsewhere", "widget", category="devices", solved=True)
    search.index(list(source.docs.values()))


def test_results_pages_keep_every_filter(search_app, source):
    _widgets(source)
    client = search_app.test_client()
    first = client.get("/search?q=widget&kind=thread&solved=1&category=billing").text
    assert "Page 1 of 2" in first
    following = _link(first, "next")
    assert parse_qs(urlsplit(following).query) == {
        "q": ["widget"], "page": ["2"], "kind": ["thread"], "solved": ["1"], "category": ["billing"]}
    second = client.get(following).text
    assert "Page 2 of 2" in second and "Widget guide" not in second and "Widget elsewhere" not in second
    assert parse_qs(urlsplit(_link(second, "prev")).query) == {
        "q": ["widget"], "page": ["1"], "kind": ["thread"], "solved": ["1"], "category": ["billing"]}


def test_did_you_mean_keeps_the_filters(search_app, source):
    _widgets(source)
    page = search_app.test_client().get("/search?q=widgt&kind=article").text
    [anchor] = [a for a in html5lib.parse(page, namespaceHTMLElements=False).iter("a") if a.text == "widget"]
    assert parse_qs(urlsplit(anchor.get("href")).query) == {"q": ["widget"], "kind": ["article"]}


@pytest.mark.parametrize("page", ["99999999999999999999", "-99999999999999999999", "x"])
def test_results_page_numbers_past_any_page_show_a_page(search_app, source, page):
    _widgets(source)
    response = search_app.test_client().get(f"/search?q=widget&page={page}")
    assert response.status_code == 200 and "Widget" in response.text
    assert search_app.test_client().get(f"/search.json?q=widget&page={page}").status_code == 200
