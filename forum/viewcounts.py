"""Thread views counted without a database write per page view: buffered, flushed by a job.

The buffer is `core.viewcounts.ViewBuffer`: a Redis hash shared by every web process, or,
without Redis, a counter per process, flushed when its ticker runs the job.
"""

import sqlalchemy as sa

from core.extensions import db
from core.viewcounts import ViewBuffer
from forum.models import Thread

_views = ViewBuffer("thread-views")
REDIS_KEY = _views.redis_key


def record(thread_id: int) -> None:
    """Count one view of a thread; never fails the page."""
    _views.record(thread_id)


def flush() -> int:
    """Add buffered views to `threads.view_count`; returns how many views were written."""
    counts = _views.take()
    for thread_id, views in sorted(counts.items()):
        db.session.execute(sa.update(Thread).where(Thread.id == thread_id)
                           .values(view_count=Thread.view_count + views))
    db.session.commit()
    return sum(counts.values())
