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

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from core import clock
from core.clock import as_utc
from core.extensions import db
from core.jobs.dispatch import (
    REDIS_RETRY_AFTER,
    RQ_TIMEOUTS,
    Dispatcher,
    InlineRunner,
    Ticker,
    dispatcher,
    enqueue,
    install_session_listeners,
    wait_idle,
)
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

RESEND_AFTER = timedelta(seconds=30)
KEEP_DONE_FOR = timedelta(days=14)


# --- enqueue -------------------------------------------------------------------------------


# --- running one job -------------------------------------------------------------------------


# --- dispatch: RQ or in-process ----------------------------------------------------------------


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


def init_app(app: Flask, table: Sequence[Periodic]) -> None:
    """Wire the outbox into the session and keep the app's cron table."""
    ids = [entry.id for entry in table]
    if len(ids) != len(set(ids)):
        raise ValueError("periodic job ids in the cron table must be unique")
    for entry in table:
        function_path(entry.func)
    install_session_listeners()
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
