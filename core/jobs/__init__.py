"""Background jobs: an outbox written in the caller's transaction, run by RQ or in-process.

`enqueue(func, *args)` adds a row to the `job_outbox` table in the current
database transaction. Only when that transaction commits is the job handed on:
to RQ when REDIS_URL is set, otherwise to the in-process runner thread of its
queue. Handing on never touches the database (the request that committed still
holds its connection, and a second one per request runs a busy pool dry). A job
that could not be handed on (Redis down, process killed) stays `pending`, and the
relay (itself a periodic job) sends it again; so it does for a job whose worker
died while running it, which it knows because running jobs beat a heartbeat.

A function marked `@batched` takes one list; when it runs, it also takes every
other waiting job of the same function and runs once with all their items (the
search writer indexes what is waiting in one commit, each document once).

Periodic jobs are listed once, in the cron table that `create_app` passes to
`init_app`; `flask jobs cron` feeds it to RQ's cron scheduler and the in-process
ticker reads the same table.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import clock
from core.clock import as_utc
from core.extensions import db, rolled_back_whole
from core.jobs.models import (
    DONE,
    FAILED,
    MAX_ATTEMPTS,
    PENDING,
    QUEUED,
    QUEUES,
    RQ_RETRY_INTERVALS,
    RUNNING,
    STATUSES,
    JobRecord,
    Periodic,
    PeriodicRun,
    function_path,
    resolve,
    rq_job_id,
)
from core.jobs.running import (
    BATCH_MAX,
    Heartbeat,
    abandoned_after,
    app_heartbeat,
    batched,
    claim_due_periodic,
    cron_table,
    execute,
    heartbeat_seconds,
    is_abandoned,
    run_periodic,
)

__all__ = [
    # models
    "DONE", "FAILED", "MAX_ATTEMPTS", "PENDING", "QUEUED", "QUEUES", "RQ_RETRY_INTERVALS", "RUNNING",
    "STATUSES", "JobRecord", "Periodic", "PeriodicRun", "function_path", "resolve", "rq_job_id",
    # running
    "BATCH_MAX", "Heartbeat", "abandoned_after", "app_heartbeat", "batched", "claim_due_periodic",
    "cron_table", "execute", "heartbeat_seconds", "run_periodic",
    # dispatch
    "REDIS_RETRY_AFTER", "RQ_TIMEOUTS", "Dispatcher", "InlineRunner", "Ticker", "dispatcher", "enqueue",
    "wait_idle",
    # relay
    "KEEP_DONE_FOR", "RESEND_AFTER", "relay_outbox",
    # status
    "JobsStatus", "status",
    # wiring
    "init_app",
]

log = logging.getLogger(__name__)

# RQ stops a job after this long: a mail job may mail every follower of a thread, one by one.
RQ_TIMEOUTS = {"default": 600, "mail": 3600, "search": 600}
RESEND_AFTER = timedelta(seconds=30)
KEEP_DONE_FOR = timedelta(days=14)
REDIS_RETRY_AFTER = 10.0  # seconds without trying Redis after it failed: posting must not wait on it
_SESSION_KEY = "peerline_jobs"


# --- enqueue -------------------------------------------------------------------------------


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


def _install_session_listeners() -> None:
    global _listeners_installed
    if _listeners_installed:
        return
    event.listen(Session, "after_flush", _collect_new_jobs)
    event.listen(Session, "after_commit", _dispatch_committed)
    event.listen(Session, "after_soft_rollback", _forget_jobs)
    _listeners_installed = True


# --- running one job -------------------------------------------------------------------------


# --- dispatch: RQ or in-process ----------------------------------------------------------------


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
            for record_id, queue_name in jobs:
                self.runner(queue_name).submit(("job", record_id))
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


# --- relay ------------------------------------------------------------------------------------


def relay_outbox() -> dict[str, int]:
    """Hand on again the jobs that should be running and are not: never handed on (Redis was
    down), lost by Redis, or left `running` by a worker that died (its heartbeat stopped). Retry
    failed in-process jobs (RQ retries its own), and prune old finished rows. Returns counts."""
    disp = dispatcher(current_app)
    now = clock.now()
    counts = {"resent": 0, "abandoned": 0, "lost": 0, "retried": 0, "pruned": 0}
    abandoned = list(db.session.scalars(sa.select(JobRecord.id).where(is_abandoned(now)).limit(1000)))
    if abandoned:
        counts["abandoned"] = db.session.execute(
            sa.update(JobRecord).where(JobRecord.id.in_(abandoned), is_abandoned(now))
            .values(status=PENDING).execution_options(synchronize_session=False)).rowcount
    since = sa.func.coalesce(JobRecord.dispatched_at, JobRecord.created_at)
    waiting = list(db.session.execute(
        sa.select(JobRecord.id, JobRecord.queue, JobRecord.status)
        .where(JobRecord.status.in_((PENDING, QUEUED)),
               sa.or_(JobRecord.id.in_(abandoned), since <= now - RESEND_AFTER))
        .order_by(JobRecord.id).limit(1000)
    ))
    retry = [] if disp.uses_rq else _failed_to_retry(now)
    counts["retried"] = len(retry)
    counts["pruned"] = db.session.execute(
        sa.delete(JobRecord).where(JobRecord.status == DONE, JobRecord.finished_at <= now - KEEP_DONE_FOR)
    ).rowcount
    db.session.commit()  # no transaction stays open while Redis answers (on SQLite it is the write lock)
    if disp.uses_rq:
        try:
            held = disp.held_by_rq([row.id for row in waiting])
        except Exception:  # Redis is away: everything waits in the outbox for the next run
            log.warning("the relay could not reach Redis; the outbox waits for it", exc_info=True)
            return counts
        confirmed = [row.id for row in waiting if row.id in held and row.status == PENDING]
        _mark_queued(confirmed)  # handed on after their commit: RQ has them
        # An abandoned job's RQ job may still say "started": its worker died without telling RQ.
        resend = [(row.id, row.queue) for row in waiting if row.id not in held or row.id in abandoned]
        counts["lost"] = sum(1 for row in waiting if row.id not in held and row.status == QUEUED)
    else:
        resend = [(row.id, row.queue) for row in waiting if not disp.waiting_in_process(row.id)]
    counts["resent"] = len(resend) - counts["lost"]
    sent = disp.dispatch(resend + retry, patient=True) if resend or retry else []
    if disp.uses_rq:
        _mark_queued(sent)
    return counts


def _failed_to_retry(now: datetime) -> list[tuple[int, str]]:
    """In-process jobs that failed fewer than MAX_ATTEMPTS times and have waited their interval."""
    due = []
    for record_id, queue_name, attempts, finished_at in db.session.execute(
        sa.select(JobRecord.id, JobRecord.queue, JobRecord.attempts, JobRecord.finished_at)
        .where(JobRecord.status == FAILED, JobRecord.attempts < MAX_ATTEMPTS).limit(1000)
    ):
        wait = timedelta(seconds=RQ_RETRY_INTERVALS[min(max(attempts, 1), len(RQ_RETRY_INTERVALS)) - 1])
        if as_utc(finished_at) <= now - wait:
            due.append((record_id, queue_name))
    return due


def _mark_queued(record_ids: list[int]) -> None:
    if record_ids:
        db.session.execute(sa.update(JobRecord)
                           .where(JobRecord.id.in_(record_ids), JobRecord.status.in_((PENDING, QUEUED)))
                           .values(status=QUEUED, dispatched_at=clock.now()))
        db.session.commit()


# --- status -------------------------------------------------------------------------------------


@dataclass
class JobsStatus:
    mode: str
    queues: list[dict]
    outbox: dict[str, int]
    failed: list[JobRecord]
    periodic: list[dict]


def status() -> JobsStatus:
    """What `flask jobs status` prints: queue depths, failed jobs, periodic runs."""
    disp = dispatcher(current_app)
    outbox = dict.fromkeys(STATUSES, 0)
    for state, count in db.session.execute(
        sa.select(JobRecord.status, sa.func.count()).group_by(JobRecord.status)
    ):
        outbox[state] = count
    queues = []
    if disp.uses_rq:
        from rq import Queue

        for name in QUEUES:
            rq_queue = Queue(name, connection=disp.redis())
            queues.append({
                "name": name,
                "waiting": rq_queue.count,
                "running": rq_queue.started_job_registry.count,
                "scheduled": rq_queue.scheduled_job_registry.count,
                "failed": rq_queue.failed_job_registry.count,
            })
    else:
        waiting = dict(
            db.session.execute(
                sa.select(JobRecord.queue, sa.func.count())
                .where(JobRecord.status.in_((PENDING, RUNNING)))
                .group_by(JobRecord.queue)
            ).all()
        )
        queues = [{"name": name, "waiting": waiting.get(name, 0)} for name in QUEUES]
    failed = list(
        db.session.scalars(
            sa.select(JobRecord).where(JobRecord.status == FAILED).order_by(JobRecord.id.desc())
            .limit(10)
        )
    )
    runs = {run.id: run for run in db.session.scalars(sa.select(PeriodicRun))}
    periodic = []
    for entry in cron_table(current_app).values():
        run = runs.get(entry.id)
        started = as_utc(run.last_started_at) if run else None
        periodic.append({
            "id": entry.id,
            "every": entry.every,
            "last_started_at": started,
            "last_finished_at": as_utc(run.last_finished_at) if run else None,
            "last_status": run.last_status if run else None,
            "runs": run.runs if run else 0,
            "next_due": started + timedelta(seconds=entry.every) if started else None,
        })
    mode = f"RQ at {_redacted(disp.redis_url)}" if disp.uses_rq else "in-process (no REDIS_URL)"
    return JobsStatus(mode=mode, queues=queues, outbox=outbox, failed=failed, periodic=periodic)


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


# --- wiring -------------------------------------------------------------------------------------


def dispatcher(app: Flask) -> Dispatcher:
    return app.extensions["peerline_jobs"]


def wait_idle(timeout: float = 30.0, app: Flask | None = None) -> None:
    """Wait for in-process jobs to finish, also those they enqueue on other queues (no-op with RQ)."""
    disp = dispatcher(app or current_app)
    if disp.uses_rq:
        return
    deadline = time.monotonic() + timeout
    while True:
        busy = [runner for runner in disp.runners() if runner.items.unfinished_tasks]
        if not busy:
            return
        for runner in busy:
            runner.wait_idle(max(deadline - time.monotonic(), 0.001))


def init_app(app: Flask, table: Sequence[Periodic]) -> None:
    """Wire the outbox into the session and keep the app's cron table."""
    ids = [entry.id for entry in table]
    if len(ids) != len(set(ids)):
        raise ValueError("periodic job ids in the cron table must be unique")
    for entry in table:
        function_path(entry.func)
    _install_session_listeners()
    app.extensions["peerline_cron_table"] = {entry.id: entry for entry in table}
    app.extensions["peerline_job_heartbeat"] = Heartbeat(app)
    app.extensions["peerline_jobs"] = Dispatcher(app)
    if not app.config.get("REDIS_URL") and app.config.get("PEERLINE_TICKER"):
        lock, tickers = threading.Lock(), []

        @app.before_request
        def _start_ticker():
            # Started by the first request, so CLI commands never spawn a ticker.
            if not tickers:
                with lock:
                    if not tickers:
                        tickers.append(Ticker(app).start())
