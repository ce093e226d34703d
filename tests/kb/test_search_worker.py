"""The search index kept right by a real RQ worker: threads and articles go through Redis jobs, and a
separate worker process writes the index."""

import pytest

import search
from core.extensions import db
from forum import services, states
from tests.factories import make_answer, make_thread, make_user

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs


def hit_ids(query: str) -> list[str]:
    return [hit.doc_id for hit in search.search(query).hits]


def test_a_worker_indexes_new_edited_and_deleted_threads(redis_app, start_worker):
    thread = make_thread(title="Payroll export misses overtime")
    make_answer(thread, body="Switch the export to the extended Quokka format")
    assert hit_ids("overtime") == []  # nothing is written inside the request
    worker = start_worker(redis_app, "search")
    worker.drain()
    assert hit_ids("overtime") == [f"thread:{thread.id}"]
    assert hit_ids("quokka") == [f"thread:{thread.id}"]

    question = thread_question(thread)
    services.edit_post(thread.author, question, "Overtime rows are missing.",
                       title="Payroll export drops shifts")
    worker.drain()
    assert hit_ids("shifts") == [f"thread:{thread.id}"]
    assert hit_ids("title:overtime") == []

    states.delete_thread(make_user("staff"), thread)
    worker.drain()
    assert hit_ids("shifts") == [] and hit_ids("quokka") == []


def thread_question(thread):
    from forum.models import QUESTION, Post

    return db.session.scalar(db.select(Post).where(Post.thread_id == thread.id, Post.kind == QUESTION))


def test_a_worker_indexes_published_articles_and_removes_archived_ones(redis_app, start_worker):
    from kb import services as kb_services
    from tests.factories import make_article

    worker = start_worker(redis_app, "search")
    draft = make_article(title="Reconcile a Quokka payroll batch", status="draft")
    worker.drain()
    assert hit_ids("quokka") == []  # drafts are not searchable
    kb_services.set_status(draft.author, draft, "published")
    worker.drain()
    assert hit_ids("quokka") == [f"article:{draft.id}"]
    kb_services.set_status(draft.author, draft, "archived")
    worker.drain()
    assert hit_ids("quokka") == []
