"""Handing jobs on: `enqueue` writes the outbox row, session hooks hand a transaction's jobs on once
it commits, and the `Dispatcher` gives them to RQ or, without Redis, to this process's runner thread
of their queue (`InlineRunner`; the `Ticker` feeds the runners the periodic jobs that are due)."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.extensions import db, rolled_back_whole
from core.jobs.models import (
    MAX_ATTEMPTS,
    PENDING,
    QUEUES,
    RQ_RETRY_INTERVALS,
    JobRecord,
    function_path,
    rq_job_id,
)
from core.jobs.running import claim_due_periodic, execute, run_periodic

log = logging.getLogger(__name__)

# RQ stops a job after this long: a mail job may mail every follower of a thread, one by one.
RQ_TIMEOUTS = {"default": 600, "mail": 3600, "search": 600}
REDIS_RETRY_AFTER = 10.0  # seconds without trying Redis after it failed: posting must not wait on it
_SESSION_KEY = "peerline_jobs"


# --- enqueue, and handing on after the commit --------------------------------------------------------


def enqueue(func: Callable, *args, queue: str = "default") -> JobRecord:
    """Record a job in the current transaction; it runs only if that transaction commits.

    Raises ValueError for a function a worker could not import, arguments that
    are not JSON (jobs take ids, not objects) or an unknown queue.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    try:
        encoded = json.dumps(list(args))
    except TypeError as exc:
        raise ValueError(f"job arguments must be JSON values (ids, not objects): {exc}") from exc
    record = JobRecord(func=function_path(func), args=encoded, queue=queue, status=PENDING)
    db.session.add(record)
    return record


def _collect_new_jobs(session: Session, _flush_context) -> None:
    # After a flush the new rows have ids; remember them until the commit.
    new = [obj for obj in session.new if isinstance(obj, JobRecord)]
    if new:
        session.info.setdefault(_SESSION_KEY, []).extend((obj.id, obj.queue) for obj in new)


def _forget_jobs(session: Session, previous_transaction) -> None:
    # Only when the whole transaction rolled back: a savepoint's rollback keeps the outer work.
    if rolled_back_whole(previous_transaction):
        session.info.pop(_SESSION_KEY, None)


def _dispatch_committed(session: Session) -> None:
    jobs = session.info.pop(_SESSION_KEY, None)
    if jobs and has_app_context():
        try:
            dispatcher(current_app).dispatch(jobs)
        except Exception:  # the change is committed; the relay hands the jobs on later
            log.exception("could not hand on jobs %s; the relay will", [record_id for record_id, _ in jobs])


_listeners_installed = False


def install_session_listeners() -> None:
    """Hook enqueue into every session, once per process: a transaction's jobs are handed on when it
    commits, and forgotten when it rolls back."""
    global _listeners_installed
    if _listeners_installed:
        return
    event.listen(Session, "after_flush", _collect_new_jobs)
    event.listen(Session, "after_commit", _dispatch_committed)
    event.listen(Session, "after_soft_rollback", _forget_jobs)
    _listeners_installed = True


# --- RQ or in-process -----------------------------------------------------------------------------


class Dispatcher:
    """Hands committed jobs to RQ, or to the in-process runner of their queue when there is no Redis.

    Handing on uses Redis or a thread, never the database: it runs just after a commit, while the
    request still holds its connection.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.redis_url = app.config.get("REDIS_URL")
        self._redis = None
        self._redis_down_until = 0.0
        self._runners: dict[str, InlineRunner] = {}
        self._lock = threading.Lock()
        # PEERLINE_JOBS_HELD (tests only): in-process jobs stay `pending` in the outbox until
        # wait_idle() hands them to their runners, so a test runs only the jobs it waits for.
        self.held: list[tuple[int, str]] | None = [] if app.config.get("PEERLINE_JOBS_HELD") else None

    @property
    def uses_rq(self) -> bool:
        return bool(self.redis_url)

    def redis(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        return self._redis

    def redis_if_up(self):
        """The Redis client, or None without Redis or for a few seconds after it failed (a request
        must not wait out a time-out for what the outbox or a local fallback can do)."""
        if not self.uses_rq or time.monotonic() < self._redis_down_until:
            return None
        return self.redis()

    def redis_failed(self) -> None:
        """Note that Redis just failed: redis_if_up() says None for a few seconds."""
        self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER

    def runner(self, queue_name: str = "default") -> InlineRunner:
        """This process's runner thread for a queue (one each, so mail never holds up indexing)."""
        with self._lock:
            runner = self._runners.get(queue_name)
            if runner is None or runner.pid != os.getpid():
                runner = self._runners[queue_name] = InlineRunner(self.app, queue_name)
            return runner

    def runners(self) -> list[InlineRunner]:
        with self._lock:
            return [runner for runner in self._runners.values() if runner.pid == os.getpid()]

    def waiting_in_process(self, record_id: int) -> bool:
        """Whether a runner of this process has the job in its queue, not started yet."""
        return any(runner.has_waiting(record_id) for runner in self.runners())

    def dispatch(self, jobs: Sequence[tuple[int, str]], *, patient: bool = False) -> list[int]:
        """Hand jobs on; returns the ids RQ took (in-process: all of them). A job Redis did not take
        stays `pending`; after Redis failed it is not tried again for a few seconds, unless
        `patient` (the relay), so that requests do not each wait for its time-out."""
        if not self.uses_rq:
            if self.held is not None:
                with self._lock:
                    self.held.extend(jobs)
                return [record_id for record_id, _ in jobs]
            self._submit(jobs)
            return [record_id for record_id, _ in jobs]
        sent = []
        if not patient and time.monotonic() < self._redis_down_until:
            return sent
        for record_id, queue_name in jobs:
            try:
                self.send_to_rq(record_id, queue_name)
            except Exception:  # Redis down: the row stays pending and the relay resends it.
                log.warning("could not hand job %s to Redis; the relay will resend it", record_id)
                self.redis_failed()
                return sent
            sent.append(record_id)
        self._redis_down_until = 0.0
        return sent

    def _submit(self, jobs: Sequence[tuple[int, str]]) -> None:
        for record_id, queue_name in jobs:
            self.runner(queue_name).submit(("job", record_id))

    def release_held(self) -> bool:
        """Hand the held jobs to their runners; whether there were any."""
        if not self.held:
            return False
        with self._lock:
            jobs, self.held[:] = list(self.held), []
        self._submit(jobs)
        return bool(jobs)

    def send_to_rq(self, record_id: int, queue_name: str) -> None:
        from rq import Queue, Retry

        Queue(queue_name, connection=self.redis()).enqueue(
            execute,
            record_id,
            job_id=rq_job_id(record_id),
            retry=Retry(max=MAX_ATTEMPTS - 1, interval=list(RQ_RETRY_INTERVALS)),
            job_timeout=RQ_TIMEOUTS[queue_name],
            failure_ttl=int(timedelta(days=7).total_seconds()),
            result_ttl=3600,
        )

    def held_by_rq(self, record_ids: Sequence[int]) -> set[int]:
        """The jobs RQ still means to run (queued, scheduled for a retry, or running)."""
        from rq.job import Job, JobStatus

        if not record_ids:
            return set()
        alive = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED}
        found = Job.fetch_many([rq_job_id(i) for i in record_ids], connection=self.redis())
        return {record_id for record_id, job in zip(record_ids, found, strict=True)
                if job is not None and job.get_status(refresh=False) in alive}


class InlineRunner:
    """A thread per queue and process that runs that queue's jobs in order (without Redis)."""

    def __init__(self, app: Flask, name: str = "default"):
        self.app = app
        self.name = name
        self.pid = os.getpid()
        self.items: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._waiting: set[int] = set()  # submitted, not started
        self._done_early: set[int] = set()  # submitted, and already finished by a batch
        self.thread = threading.Thread(target=self._loop, name=f"peerline-jobs-{name}", daemon=True)
        self.thread.start()

    def submit(self, item: tuple[str, object]) -> None:
        if item[0] == "job":
            with self._lock:
                self._waiting.add(item[1])
        self.items.put(item)

    def has_waiting(self, record_id: int) -> bool:
        with self._lock:
            return record_id in self._waiting

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every submitted job has run."""
        deadline = time.monotonic() + timeout
        with self.items.all_tasks_done:
            while self.items.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"in-process {self.name} jobs did not finish in time")
                self.items.all_tasks_done.wait(remaining)

    def _loop(self) -> None:
        while True:
            kind, payload = self.items.get()
            try:
                if kind == "job":
                    with self._lock:
                        self._waiting.discard(payload)
                        if payload in self._done_early:  # a batch took it along: nothing to claim
                            self._done_early.discard(payload)
                            continue
                with self.app.app_context():
                    try:
                        if kind == "job":
                            finished = execute(payload)
                            with self._lock:
                                self._done_early.update(self._waiting.intersection(finished))
                        else:
                            run_periodic(payload)
                    except Exception:
                        log.exception("in-process job %s %s failed", kind, payload)
                    finally:
                        db.session.remove()
            finally:
                self.items.task_done()


class Ticker:
    """In-process stand-in for `rq cron`: every few seconds, runs what the cron table says is due."""

    def __init__(self, app: Flask, interval: float = 5.0):
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="peerline-ticker", daemon=True)

    def start(self) -> Ticker:
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.app.app_context():
                try:
                    for entry in claim_due_periodic():
                        dispatcher(self.app).runner(entry.queue).submit(("periodic", entry.id))
                except Exception:
                    log.exception("the periodic-job ticker failed; trying again")
                finally:
                    db.session.remove()


def dispatcher(app: Flask) -> Dispatcher:
    """The app's dispatcher, made by core.jobs.init_app."""
    return app.extensions["peerline_jobs"]


def wait_idle(timeout: float = 30.0, app: Flask | None = None) -> None:
    """Wait for in-process jobs to finish, also those they enqueue on other queues (no-op with RQ).
    Held jobs (PEERLINE_JOBS_HELD) are handed to their runners first, and so are those they hold."""
    disp = dispatcher(app or current_app)
    if disp.uses_rq:
        return
    deadline = time.monotonic() + timeout
    while True:
        if disp.held and has_app_context():
            db.session.commit()  # they run in other threads: end this one's transaction (SQLite's lock)
        disp.release_held()
        busy = [runner for runner in disp.runners() if runner.items.unfinished_tasks]
        if not busy and not disp.held:
            return
        for runner in busy:
            runner.wait_idle(max(deadline - time.monotonic(), 0.001))
