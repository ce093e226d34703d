"""Background jobs: an outbox written in the caller's transaction, run by RQ or in-process.

`enqueue(func, *args)` adds a row to the `job_outbox` table in the current
database transaction. Only when that transaction commits is the job handed on:
to RQ when REDIS_URL is set, otherwise to the one in-process runner thread. A
job that could not be handed on (Redis down, process killed) stays `pending`,
and the relay (itself a periodic job) sends it again. Periodic jobs are listed
once, in the cron table that `create_app` passes to `init_app`; `flask jobs cron`
feeds it to RQ's cron scheduler and the in-process ticker reads the same table.
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
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import as_utc, utcnow
from core.extensions import db

log = logging.getLogger(__name__)

PENDING, QUEUED, RUNNING, DONE, FAILED = "pending", "queued", "running", "done", "failed"
STATUSES = (PENDING, QUEUED, RUNNING, DONE, FAILED)
QUEUES = ("default", "mail", "search")
MAX_ATTEMPTS = 3
RQ_RETRY_INTERVALS = (30, 120, 600)
RESEND_AFTER = timedelta(seconds=30)
LOST_AFTER = timedelta(minutes=5)
RUNNING_LEASE = timedelta(hours=1)  # far longer than any job's RQ timeout
KEEP_DONE_FOR = timedelta(days=14)
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
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_job_outbox_status_created_at", "status", "created_at"),)

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


def _forget_jobs(session: Session, *_args) -> None:
    session.info.pop(_SESSION_KEY, None)


def _dispatch_committed(session: Session) -> None:
    jobs = session.info.pop(_SESSION_KEY, None)
    if jobs and has_app_context():
        dispatcher(current_app).dispatch(jobs)


_listeners_installed = False


def _install_session_listeners() -> None:
    global _listeners_installed
    if _listeners_installed:
        return
    event.listen(Session, "after_flush", _collect_new_jobs)
    event.listen(Session, "after_commit", _dispatch_committed)
    event.listen(Session, "after_rollback", _forget_jobs)
    _listeners_installed = True


# --- running one job -------------------------------------------------------------------------


def execute(record_id: int) -> None:
    """Run the outbox job `record_id` once; a job done, or running elsewhere, is not run again."""
    if not has_app_context():
        raise RuntimeError("Peerline jobs need the app: start workers with `flask jobs worker`")
    now = utcnow()
    # Claim the row atomically: of two deliveries of the same job, only one runs it. A row
    # left `running` past its lease belonged to a worker that died, and may be claimed again.
    claimed = db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id == record_id, sa.or_(
            JobRecord.status.in_((PENDING, QUEUED, FAILED)),
            sa.and_(JobRecord.status == RUNNING, JobRecord.started_at <= now - RUNNING_LEASE)))
        .values(status=RUNNING, attempts=JobRecord.attempts + 1, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return
    record = db.session.get(JobRecord, record_id, populate_existing=True)
    try:
        func, args = resolve(record.func), json.loads(record.args)
        func(*args)
    except Exception as exc:
        db.session.rollback()
        _finish(record_id, FAILED, _describe(exc))
        raise
    _finish(record_id, DONE, None)


def _finish(record_id: int, status: str, error: str | None) -> None:
    db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id == record_id)
        .values(status=status, finished_at=utcnow(), last_error=error)
    )
    db.session.commit()


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-4000:]


def run_periodic(periodic_id: str) -> None:
    """Run one line of the cron table now and record its outcome."""
    entry = cron_table(current_app).get(periodic_id)
    if entry is None:
        raise LookupError(f"no periodic job {periodic_id!r} in the cron table")
    _ensure_periodic_rows([periodic_id])
    db.session.execute(
        sa.update(PeriodicRun)
        .where(PeriodicRun.id == periodic_id)
        .values(last_started_at=utcnow(), runs=PeriodicRun.runs + 1)
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
        .values(last_finished_at=utcnow(), last_status=status, last_error=error)
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
    now = now or utcnow()
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
    """Hands committed jobs to RQ, or to the in-process runner when there is no Redis."""

    def __init__(self, app: Flask, table: dict[str, Periodic]):
        self.app = app
        self.table = table
        self.redis_url = app.config.get("REDIS_URL")
        self._redis = None
        self._runner: InlineRunner | None = None
        self._lock = threading.Lock()

    @property
    def uses_rq(self) -> bool:
        return bool(self.redis_url)

    def redis(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        return self._redis

    def runner(self) -> InlineRunner:
        with self._lock:
            if self._runner is None or self._runner.pid != os.getpid():
                self._runner = InlineRunner(self.app)
            return self._runner

    def dispatch(self, jobs: Sequence[tuple[int, str]]) -> None:
        if not self.uses_rq:
            for record_id, _queue in jobs:
                self.runner().submit(("job", record_id))
            return
        sent = []
        for record_id, queue_name in jobs:
            try:
                self.send_to_rq(record_id, queue_name)
            except Exception:  # Redis down: the row stays pending and the relay resends it.
                log.warning("could not hand job %s to Redis; the relay will resend it", record_id)
                continue
            sent.append(record_id)
        if sent:
            with db.engine.begin() as connection:
                connection.execute(
                    sa.update(JobRecord)
                    .where(JobRecord.id.in_(sent), JobRecord.status == PENDING)
                    .values(status=QUEUED, dispatched_at=utcnow())
                )

    def send_to_rq(self, record_id: int, queue_name: str) -> None:
        from rq import Queue, Retry

        Queue(queue_name, connection=self.redis()).enqueue(
            execute,
            record_id,
            job_id=rq_job_id(record_id),
            retry=Retry(max=MAX_ATTEMPTS - 1, interval=list(RQ_RETRY_INTERVALS)),
            failure_ttl=int(timedelta(days=7).total_seconds()),
            result_ttl=3600,
        )

    def rq_job_exists(self, record_id: int) -> bool:
        from rq.job import Job

        return Job.exists(rq_job_id(record_id), connection=self.redis())


class InlineRunner:
    """One thread per process that runs jobs in order: the in-process queue and search writer."""

    def __init__(self, app: Flask):
        self.app = app
        self.pid = os.getpid()
        self.items: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="peerline-jobs", daemon=True)
        self.thread.start()

    def submit(self, item: tuple[str, object]) -> None:
        self.items.put(item)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every submitted job has run, including jobs those jobs enqueued."""
        deadline = time.monotonic() + timeout
        with self.items.all_tasks_done:
            while self.items.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("in-process jobs did not finish in time")
                self.items.all_tasks_done.wait(remaining)

    def _loop(self) -> None:
        while True:
            kind, payload = self.items.get()
            try:
                with self.app.app_context():
                    try:
                        if kind == "job":
                            execute(payload)
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
                        dispatcher(self.app).runner().submit(("periodic", entry.id))
                except Exception:
                    log.exception("the periodic-job ticker failed; trying again")
                finally:
                    db.session.remove()


# --- relay ------------------------------------------------------------------------------------


def relay_outbox() -> dict[str, int]:
    """Resend jobs that never reached a queue or that Redis lost, retry failed in-process
    jobs, and prune old finished rows. Returns counts of what it did."""
    disp = dispatcher(current_app)
    now = utcnow()
    counts = {"resent": 0, "abandoned": 0, "lost": 0, "retried": 0, "pruned": 0}
    stale = list(
        db.session.execute(
            sa.select(JobRecord.id, JobRecord.queue)
            .where(JobRecord.status == PENDING, JobRecord.created_at <= now - RESEND_AFTER)
            .order_by(JobRecord.id)
            .limit(1000)
        )
    )
    counts["resent"] = len(stale)
    resend = [tuple(row) for row in stale]
    abandoned = list(db.session.execute(
        sa.select(JobRecord.id, JobRecord.queue)
        .where(JobRecord.status == RUNNING, JobRecord.started_at <= now - RUNNING_LEASE)
        .limit(1000)
    ))
    counts["abandoned"] = len(abandoned)
    resend += [tuple(row) for row in abandoned]
    if disp.uses_rq:
        queued = db.session.execute(
            sa.select(JobRecord.id, JobRecord.queue)
            .where(JobRecord.status == QUEUED, JobRecord.dispatched_at <= now - LOST_AFTER)
            .limit(1000)
        )
        lost = [(record_id, name) for record_id, name in queued if not disp.rq_job_exists(record_id)]
        counts["lost"] = len(lost)
        if lost:
            db.session.execute(sa.update(JobRecord).where(JobRecord.id.in_([i for i, _ in lost]))
                               .values(status=PENDING))
            resend += lost
    else:
        failed = db.session.execute(
            sa.select(JobRecord.id, JobRecord.queue, JobRecord.attempts, JobRecord.finished_at)
            .where(JobRecord.status == FAILED, JobRecord.attempts < MAX_ATTEMPTS)
            .limit(1000)
        )
        for record_id, queue_name, attempts, finished_at in failed:
            wait = timedelta(seconds=RQ_RETRY_INTERVALS[min(attempts, len(RQ_RETRY_INTERVALS)) - 1])
            if as_utc(finished_at) <= now - wait:
                resend.append((record_id, queue_name))
                counts["retried"] += 1
    counts["pruned"] = db.session.execute(
        sa.delete(JobRecord).where(
            JobRecord.status == DONE, JobRecord.finished_at <= now - KEEP_DONE_FOR
        )
    ).rowcount
    db.session.commit()
    if resend:
        disp.dispatch(resend)
    return counts


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


def wait_idle(timeout: float = 30.0) -> None:
    """Wait for in-process jobs to finish (no-op with RQ)."""
    disp = dispatcher(current_app)
    if not disp.uses_rq:
        disp.runner().wait_idle(timeout)


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
