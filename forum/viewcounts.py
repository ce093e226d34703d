"""Thread views counted without a database write per page view: buffered, flushed by a job.

With Redis the buffer is a hash shared by every web process; without it, each
process keeps its own counter, flushed when its ticker runs the job.
"""

import logging
import threading
from collections import Counter

import sqlalchemy as sa
from flask import current_app

from core import jobs
from core.extensions import db
from forum.models import Thread

log = logging.getLogger(__name__)
REDIS_KEY = "peerline:thread-views"


def _buffer() -> tuple[threading.Lock, Counter]:
    """This app's in-process buffer (one per app, so apps in one process never mix counts)."""
    return current_app.extensions.setdefault("peerline_viewcounts", (threading.Lock(), Counter()))


def record(thread_id: int) -> None:
    """Count one view of a thread; never fails the page."""
    disp = jobs.dispatcher(current_app)
    if disp.uses_rq:
        try:
            disp.redis().hincrby(REDIS_KEY, str(thread_id), 1)
            return
        except Exception:  # Redis down: keep the view in this process instead
            log.debug("view count kept in memory: Redis unavailable")
    lock, pending = _buffer()
    with lock:
        pending[thread_id] += 1


def _take_redis_counts(disp) -> dict[int, int]:
    redis = disp.redis()
    taking = f"{REDIS_KEY}:flushing"
    if not redis.exists(REDIS_KEY):
        return {}
    # RENAME is atomic: views recorded from now on start a new hash.
    redis.rename(REDIS_KEY, taking)
    counts = {int(k): int(v) for k, v in redis.hgetall(taking).items()}
    redis.delete(taking)
    return counts


def flush() -> int:
    """Add buffered views to `threads.view_count`; returns how many views were written."""
    disp = jobs.dispatcher(current_app)
    counts: Counter = Counter()
    lock, pending = _buffer()
    with lock:
        counts.update(pending)
        pending.clear()
    if disp.uses_rq:
        try:
            counts.update(_take_redis_counts(disp))
        except Exception:
            log.warning("could not read view counts from Redis; they stay there for the next flush")
    for thread_id, views in sorted(counts.items()):
        db.session.execute(sa.update(Thread).where(Thread.id == thread_id)
                           .values(view_count=Thread.view_count + views))
    db.session.commit()
    return sum(counts.values())
