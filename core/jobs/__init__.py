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

The package's modules, each needing only those before it:

- `models`: the outbox rows (`JobRecord`), the periodic runs, the cron table's line, job states;
- `running`: `execute` (claims and runs a job, batches, the heartbeat) and `run_periodic`;
- `dispatch`: `enqueue`, the session hooks that hand jobs on after the commit, the `Dispatcher`
  (RQ or the in-process runner threads) and the in-process ticker;
- `relay`: `relay_outbox`, which hands on again what was lost;
- `report`: `status`, what `flask jobs status` shows; `cli`: the `flask jobs` commands.

Callers use this package's names (`jobs.enqueue`, `jobs.batched`, `jobs.Periodic`...), not the
modules'.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from flask import Flask

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
from core.jobs.relay import KEEP_DONE_FOR, RESEND_AFTER, relay_outbox
from core.jobs.report import JobsStatus, status
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
    # relay and report
    "KEEP_DONE_FOR", "RESEND_AFTER", "relay_outbox", "JobsStatus", "status",
    # wiring
    "init_app",
]


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
