"""The relay, a periodic job: hands on again the jobs that should be running and are not, retries
failed in-process jobs, and prunes old finished rows."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core import clock
from core.clock import as_utc
from core.extensions import db
from core.jobs.dispatch import dispatcher
from core.jobs.models import (
    DONE,
    FAILED,
    MAX_ATTEMPTS,
    PENDING,
    QUEUED,
    RQ_RETRY_INTERVALS,
    JobRecord,
)
from core.jobs.running import is_abandoned

log = logging.getLogger(__name__)

RESEND_AFTER = timedelta(seconds=30)
KEEP_DONE_FOR = timedelta(days=14)


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
