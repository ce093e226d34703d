"""Article views counted without a database write per page view: buffered (core.viewcounts),
added to `articles.view_count` by the `kb.flush-view-counts` job."""

import sqlalchemy as sa

from core.extensions import db
from core.viewcounts import ViewBuffer
from kb.models import Article

_views = ViewBuffer("article-views")
REDIS_KEY = _views.redis_key


def record(article_id: int) -> None:
    """Count one view of an article; never fails the page."""
    _views.record(article_id)


def flush() -> int:
    """Add buffered views to `articles.view_count`; returns how many views were written."""
    counts = _views.take()
    for article_id, views in sorted(counts.items()):
        db.session.execute(sa.update(Article).where(Article.id == article_id)
                           .values(view_count=Article.view_count + views))
    db.session.commit()
    return sum(counts.values())
