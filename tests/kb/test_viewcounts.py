"""Article views are counted without a database write per view, in the process or in Redis, and
flushed into `view_count` by the periodic job."""

import pytest
import sqlalchemy as sa
from redis import Redis

from app import CRON_TABLE
from core import jobs
from core.extensions import db
from kb import jobs as kb_jobs
from kb import viewcounts
from tests.factories import make_article
from tests.services import REDIS_URL

# About jobs: they run as soon as they are committed, as in production (conftest.make_app).
pytestmark = pytest.mark.live_jobs


def page_views(client, url: str, times: int) -> list[str]:
    """The UPDATE statements that `times` GETs of `url` sent."""
    db.session.commit()  # first: on SQLite this test's open transaction holds the write lock jobs need
    jobs.wait_idle()
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(times):
            assert client.get(url).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]


def test_views_are_buffered_then_flushed_by_the_job(app, client):
    article = make_article()
    draft = make_article(status="draft")
    assert page_views(client, f"/kb/{article.slug}", 5) == []
    db.session.refresh(article)
    assert article.view_count == 0
    assert "kb.flush-view-counts" in {entry.id for entry in CRON_TABLE}
    kb_jobs.flush_view_counts()
    db.session.refresh(article)
    assert article.view_count == 5
    kb_jobs.flush_view_counts()  # a second run adds nothing
    db.session.refresh(article)
    assert article.view_count == 5
    assert client.get(f"/kb/{draft.slug}").status_code == 404
    assert viewcounts.flush() == 0  # a page that is not there counts nothing


def test_with_redis_views_wait_in_a_shared_hash(redis_app):
    article = make_article()
    client = redis_app.test_client()
    for _ in range(3):
        assert client.get(f"/kb/{article.slug}").status_code == 200
    redis = Redis.from_url(REDIS_URL)
    assert redis.hget(viewcounts.REDIS_KEY, str(article.id)) == b"3"
    assert viewcounts.flush() == 3
    assert not redis.exists(viewcounts.REDIS_KEY)
    db.session.refresh(article)
    assert article.view_count == 3
