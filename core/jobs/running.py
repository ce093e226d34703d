"""Running jobs: `execute` claims an outbox row and runs its function (with the waiting jobs of a
@batched one), a heartbeat shows that the worker running it is alive, and `run_periodic` runs a line
of the app's cron table."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

from core import clock
from core.extensions import db
from core.jobs.models import (
    DONE,
    FAILED,
    MAX_ATTEMPTS,
    PENDING,
    QUEUED,
    RUNNING,
    JobRecord,
    Periodic,
    PeriodicRun,
    resolve,
)

log = logging.getLogger(__name__)

BATCH_MAX = 500  # waiting jobs one run of a @batched function takes with it


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


def is_abandoned(now: datetime):
    """`running` rows whose heartbeat stopped: the worker running them died."""
    last_sign = sa.func.coalesce(JobRecord.heartbeat_at, JobRecord.started_at)
    return sa.and_(JobRecord.status == RUNNING, last_sign <= now - abandoned_after())


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
               sa.or_(JobRecord.status.in_((PENDING, QUEUED, FAILED)), is_abandoned(now)))
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
    heartbeat = app_heartbeat(current_app)
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


# --- periodic jobs ---------------------------------------------------------------------------------


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


# --- what the app keeps for them (see core.jobs.init_app) ----------------------------------------


def cron_table(app: Flask) -> dict[str, Periodic]:
    """The app's cron table, by periodic job id."""
    return app.extensions["peerline_cron_table"]


def app_heartbeat(app: Flask) -> Heartbeat:
    """The heartbeat of the jobs this app runs in this process."""
    return app.extensions["peerline_job_heartbeat"]
