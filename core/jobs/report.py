"""What `flask jobs status` reports: the mode, queue depths, the outbox by state, the latest failed
jobs and the last run of each periodic job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from core.clock import as_utc
from core.extensions import db
from core.jobs.dispatch import dispatcher
from core.jobs.models import FAILED, PENDING, QUEUES, RUNNING, STATUSES, JobRecord, PeriodicRun
from core.jobs.running import cron_table


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
