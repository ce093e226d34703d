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

import importlib
import json
import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import clock
from core.clock import as_utc
from core.extensions import db, rolled_back_whole

log = logging.getLogger(__name__)

PENDING, QUEUED, RUNNING, DONE, FAILED = "pending", "queued", "running", "done", "failed"
STATUSES = (PENDING, QUEUED, RUNNING, DONE, FAILED)
QUEUES = ("default", "mail", "search")
MAX_ATTEMPTS = 3
RQ_RETRY_INTERVALS = (30, 120, 600)
# RQ stops a job after this long: a mail job may mail every follower of a thread, one by one.
RQ_TIMEOUTS = {"default": 600, "mail": 3600, "search": 600}
RESEND_AFTER = timedelta(seconds=30)
KEEP_DONE_FOR = timedelta(days=14)
BATCH_MAX = 500  # waiting jobs one run of a @batched function takes with it
REDIS_RETRY_AFTER = 10.0  # seconds without trying Redis after it failed: posting must not wait on it
_SESSION_KEY = "peerline_jobs"


class JobRecord(db.Model):
    """One enqueued call: the outbox row that makes a job survive a lost queue."""

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    func: Mapped[str] = mapped_column(sa.String(200))
    args: Mapped[str] = mapped_column(sa.Text, default="[]")
    queue: Mapped[str] = mapped_column(sa.String(40), default="default")
    status: Mapped[str] = mapped_column(sa.String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    dispatched_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Renewed while the job runs: a `running` row whose heartbeat stopped belonged to a worker that died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("ix_job_outbox_status_created_at", "status", "created_at"),
        sa.Index("ix_job_outbox_func_status", "func", "status"),
    )

    @property
    def rq_id(self) -> str:
        return rq_job_id(self.id)


class PeriodicRun(db.Model):
    """When each periodic job last ran, and how it ended."""

    __tablename__ = "periodic_runs"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(sa.String(10))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    runs: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class Periodic:
    """One line of the cron table: a job function run every `every` seconds."""

    id: str
    func: Callable[[], object]
    every: int
    queue: str = "default"


def rq_job_id(record_id: int) -> str:
    return f"peerline-job-{record_id}"


def function_path(func: Callable) -> str:
    """`module:qualname` of a module-level function, refusing anything a worker cannot import."""
    qualname = getattr(func, "__qualname__", "")
    module = getattr(func, "__module__", None)
    if not module or not qualname or "<" in qualname or "." in qualname:
        raise ValueError(f"jobs must be module-level functions, not {func!r}")
    return f"{module}:{qualname}"


def resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def batched(func: Callable[[list], object]) -> Callable[[list], object]:
    """Mark a job function that takes one list as batchable: a run takes the other waiting jobs of
    the same function with it and is called once with all their items, each once, in order."""
    func.peerline_batched = True
    return func


def heartbeat_seconds(app: Flask | None = None) -> float:
    return float((app or current_app).config.get("PEERLINE_JOB_HEARTBEAT_SECONDS", 15))


def abandoned_after(app: Flask | None = None) -> timedelta:
    """How long a `running` job's heartbeat may be silent before its worker counts as dead."""
    return timedelta(seconds=float((app or current_app).config.get("PEERLINE_JOB_ABANDONED_AFTER", 90)))


def _abandoned(now: datetime):
    """`running` rows whose heartbeat stopped: the worker running them died."""
    last_sign = sa.func.coalesce(JobRecord.heartbeat_at, JobRecord.started_at)
    return sa.and_(JobRecord.status == RUNNING, last_sign <= now - abandoned_after())


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


def execute(record_id: int) -> list[int]:
    """Run the outbox job `record_id` once; a job done, or running elsewhere, is not run again.

    Returns the ids of the jobs this run finished: just `record_id`, or for a @batched function
    also the waiting jobs it took with it; empty when there was nothing to run.
    """
    if not has_app_context():
        raise RuntimeError("Peerline jobs need the app: start workers with `flask jobs worker`")
    now = clock.now()
    # Claim the row atomically: of two deliveries of the same job, only one runs it. A row left
    # `running` by a worker that died (its heartbeat stopped) may be claimed again.
    claimed = db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id == record_id,
               sa.or_(JobRecord.status.in_((PENDING, QUEUED, FAILED)), _abandoned(now)))
        .values(status=RUNNING, attempts=JobRecord.attempts + 1, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.commit()
        return []
    record = db.session.get(JobRecord, record_id, populate_existing=True)
    try:
        func, args = resolve(record.func), json.loads(record.args)
    except Exception as exc:
        db.session.commit()  # the claim stands, so the attempt counts
        _finish([record_id], FAILED, _describe(exc))
        raise
    batch = [(record_id, args)]
    if getattr(func, "peerline_batched", False):
        batch += [(other_id, json.loads(other_args)) for other_id, other_args in _claim_batch(record, now)]
        args = [_merged(job_args[0] for _, job_args in batch)]
    db.session.commit()
    ids = [job_id for job_id, _ in batch]
    heartbeat = dispatcher(current_app).heartbeat
    try:
        with heartbeat.beating(ids):
            func(*args)
    except Exception as exc:
        db.session.rollback()
        if len(batch) == 1:
            _finish([record_id], FAILED, _describe(exc))
            raise
        # One bad item must not fail the jobs it was batched with: each runs again on its own.
        with heartbeat.beating(ids):
            return _run_one_by_one(func, batch)
    _finish(ids, DONE, None)
    return ids


def _run_one_by_one(func: Callable, batch: list[tuple[int, list]]) -> list[int]:
    """After a batch failed: run each of its jobs alone. The first (the job delivered) fails as any
    job does, and raises; a job taken along that fails waits again for its own delivery or the
    relay, until it has failed MAX_ATTEMPTS times."""
    finished, error = [], None
    for position, (job_id, job_args) in enumerate(batch):
        try:
            func(*job_args)
        except Exception as exc:
            db.session.rollback()
            if position == 0:
                error = exc
                _finish([job_id], FAILED, _describe(exc))
            else:
                _fail_taken_along(job_id, _describe(exc))
            continue
        _finish([job_id], DONE, None)
        finished.append(job_id)
    if error is not None:
        raise error
    return finished


def _fail_taken_along(record_id: int, error: str) -> None:
    attempts = JobRecord.attempts + 1
    db.session.execute(
        sa.update(JobRecord).where(JobRecord.id == record_id)
        .values(attempts=attempts, finished_at=clock.now(), last_error=error,
                status=sa.case((attempts >= MAX_ATTEMPTS, FAILED), else_=PENDING)))
    db.session.commit()


def _claim_batch(record: JobRecord, now: datetime) -> list[tuple[int, str]]:
    """Claim the other waiting jobs of `record`'s function: (id, args) of each."""
    waiting = (sa.select(JobRecord.id)
               .where(JobRecord.func == record.func, JobRecord.status.in_((PENDING, QUEUED)),
                      JobRecord.id != record.id)
               .order_by(JobRecord.id).limit(BATCH_MAX - 1))
    # The status is checked again in the UPDATE itself: on PostgreSQL a row that another claimer
    # took meanwhile is re-read after its lock and then no longer matches.
    rows = db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id.in_(waiting.scalar_subquery()), JobRecord.status.in_((PENDING, QUEUED)))
        .values(status=RUNNING, started_at=now, heartbeat_at=now)
        .returning(JobRecord.id, JobRecord.args)
        .execution_options(synchronize_session=False)
    ).all()
    return [(row_id, row_args) for row_id, row_args in rows]


def _merged(lists) -> list:
    """The items of several lists, each once, in the order first seen."""
    return list(dict.fromkeys(item for items in lists for item in items))


def _finish(record_ids: list[int], status: str, error: str | None) -> None:
    db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id.in_(record_ids))
        .values(status=status, finished_at=clock.now(), last_error=error)
    )
    db.session.commit()


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-4000:]


class Heartbeat:
    """Renews `heartbeat_at` of the jobs this process is running, from a thread of its own, so the
    relay can tell a long job from one whose worker died (RQ's work horse, killed, says nothing).
    The thread runs while there are jobs to beat for, and is started again by the next job (also
    in a forked work horse, which inherits no threads)."""

    def __init__(self, app: Flask):
        self.app = app
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @contextmanager
    def beating(self, record_ids: Sequence[int]):
        with self._lock:
            for record_id in record_ids:
                self._running[record_id] = self._running.get(record_id, 0) + 1
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="peerline-job-heartbeat", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                for record_id in record_ids:
                    self._running[record_id] -= 1
                    if not self._running[record_id]:
                        del self._running[record_id]

    def _loop(self) -> None:
        while True:
            time.sleep(heartbeat_seconds(self.app))
            with self._lock:
                ids = list(self._running)
                if not ids:  # nothing left to beat for: the next job starts a new thread
                    self._thread = None
                    return
            with self.app.app_context():
                try:
                    db.session.execute(sa.update(JobRecord)
                                       .where(JobRecord.id.in_(ids), JobRecord.status == RUNNING)
                                       .values(heartbeat_at=clock.now()))
                    db.session.commit()
                except Exception:  # the database is busy or away; the next beat tries again
                    log.warning("could not renew the heartbeat of jobs %s", ids, exc_info=True)
                finally:
                    db.session.remove()


def run_periodic(periodic_id: str) -> None:
    """Run one line of the cron table now and record its outcome."""
    entry = cron_table(current_app).get(periodic_id)
    if entry is None:
        raise LookupError(f"no periodic job {periodic_id!r} in the cron table")
    _ensure_periodic_rows([periodic_id])
    db.session.execute(
        sa.update(PeriodicRun)
        .where(PeriodicRun.id == periodic_id)
        .values(last_started_at=clock.now(), runs=PeriodicRun.runs + 1)
    )
    db.session.commit()
    status, error = DONE, None
    try:
        entry.func()
    except Exception as exc:
        db.session.rollback()
        status, error = FAILED, _describe(exc)
        log.exception("periodic job %s failed", periodic_id)
    db.session.execute(
        sa.update(PeriodicRun)
        .where(PeriodicRun.id == periodic_id)
        .values(last_finished_at=clock.now(), last_status=status, last_error=error)
    )
    db.session.commit()


def _ensure_periodic_rows(ids: Sequence[str]) -> None:
    known = set(db.session.scalars(sa.select(PeriodicRun.id).where(PeriodicRun.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if not missing:
        return
    for periodic_id in missing:
        db.session.add(PeriodicRun(id=periodic_id, runs=0))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # another process made the row first


def claim_due_periodic(now: datetime | None = None) -> list[Periodic]:
    """The cron-table entries due now, each claimed by this process alone."""
    now = now or clock.now()
    table = cron_table(current_app)
    _ensure_periodic_rows(list(table))
    due = []
    for entry in table.values():
        cutoff = now - timedelta(seconds=entry.every)
        claimed = db.session.execute(
            sa.update(PeriodicRun)
            .where(
                PeriodicRun.id == entry.id,
                sa.or_(PeriodicRun.last_started_at.is_(None), PeriodicRun.last_started_at <= cutoff),
            )
            .values(last_started_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed:
            due.append(entry)
    db.session.commit()
    return due


# --- dispatch: RQ or in-process ----------------------------------------------------------------


class Dispatcher:
    """Hands committed jobs to RQ, or to the in-process runner of their queue when there is no Redis.

    Handing on uses Redis or a thread, never the database: it runs just after a commit, while the
    request still holds its connection.
    """

    def __init__(self, app: Flask, table: dict[str, Periodic]):
        self.app = app
        self.table = table
        self.redis_url = app.config.get("REDIS_URL")
        self.heartbeat = Heartbeat(app)
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


# --- relay ------------------------------------------------------------------------------------


def relay_outbox() -> dict[str, int]:
    """Hand on again the jobs that should be running and are not: never handed on (Redis was
    down), lost by Redis, or left `running` by a worker that died (its heartbeat stopped). Retry
    failed in-process jobs (RQ retries its own), and prune old finished rows. Returns counts."""
    disp = dispatcher(current_app)
    now = clock.now()
    counts = {"resent": 0, "abandoned": 0, "lost": 0, "retried": 0, "pruned": 0}
    abandoned = list(db.session.scalars(sa.select(JobRecord.id).where(_abandoned(now)).limit(1000)))
    if abandoned:
        counts["abandoned"] = db.session.execute(
            sa.update(JobRecord).where(JobRecord.id.in_(abandoned), _abandoned(now))
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
    for entry in disp.table.values():
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


def cron_table(app: Flask) -> dict[str, Periodic]:
    return dispatcher(app).table


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


def init_app(app: Flask, table: Sequence[Periodic]) -> None:
    """Wire the outbox into the session and keep the app's cron table."""
    ids = [entry.id for entry in table]
    if len(ids) != len(set(ids)):
        raise ValueError("periodic job ids in the cron table must be unique")
    for entry in table:
        function_path(entry.func)
    _install_session_listeners()
    app.extensions["peerline_jobs"] = Dispatcher(app, {entry.id: entry for entry in table})
    if not app.config.get("REDIS_URL") and app.config.get("PEERLINE_TICKER"):
        lock, tickers = threading.Lock(), []

        @app.before_request
        def _start_ticker():
            # Started by the first request, so CLI commands never spawn a ticker.
            if not tickers:
                with lock:
                    if not tickers:
                        tickers.append(Ticker(app).start())
