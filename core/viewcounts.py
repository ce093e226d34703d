"""Page views counted without a database write per view: buffered per key, taken by a periodic job.

With Redis the buffer is a hash shared by every web process; without it (or while Redis is
down), each process keeps its own counter, taken when its ticker runs the flush job. The
owning package adds what `take()` returns to its rows (forum threads, KB articles).
"""

import logging
import threading
from collections import Counter

from flask import current_app

from core import jobs

log = logging.getLogger(__name__)


class ViewBuffer:
    """Views of one kind of page, by integer key (a thread id, an article id)."""

    def __init__(self, name: str):
        self.redis_key = f"peerline:{name}"
        self._extension = f"peerline_viewbuffer:{name}"

    def _local(self) -> tuple[threading.Lock, Counter]:
        # One buffer per app, so that apps in one process (tests) never mix their counts.
        return current_app.extensions.setdefault(self._extension, (threading.Lock(), Counter()))

    def record(self, key: int, amount: int = 1) -> None:
        """Count one view (or `amount`: posts read on a page); never fails the page."""
        disp = jobs.dispatcher(current_app)
        redis = disp.redis_if_up()
        if redis is not None:
            try:
                redis.hincrby(self.redis_key, str(key), amount)
                return
            except Exception:  # Redis down: keep the view in this process instead
                disp.redis_failed()
                log.debug("view count kept in memory: Redis unavailable")
        lock, pending = self._local()
        with lock:
            pending[key] += amount

    def take(self) -> Counter:
        """Every view buffered so far, by key, emptying the buffer; views that Redis holds and
        could not hand over stay there for the next call."""
        counts: Counter = Counter()
        lock, pending = self._local()
        with lock:
            counts.update(pending)
            pending.clear()
        disp = jobs.dispatcher(current_app)
        if disp.uses_rq:
            try:
                counts.update(self._take_redis(disp.redis()))
            except Exception:
                log.warning("could not read view counts from Redis; they stay there for the next flush")
        return counts

    def _take_redis(self, redis) -> dict[int, int]:
        taking = f"{self.redis_key}:flushing"
        if not redis.exists(self.redis_key):
            return {}
        # RENAME is atomic: views recorded from now on start a new hash.
        redis.rename(self.redis_key, taking)
        counts = {int(k): int(v) for k, v in redis.hgetall(taking).items()}
        redis.delete(taking)
        return counts
