"""The outbox's tables and the cron table's line: `JobRecord` (one enqueued call), `PeriodicRun` (how
each periodic job last ran), `Periodic`, the states and queues a job goes through, and the
`module:qualname` path by which a row names its function."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.extensions import db

PENDING, QUEUED, RUNNING, DONE, FAILED = "pending", "queued", "running", "done", "failed"
STATUSES = (PENDING, QUEUED, RUNNING, DONE, FAILED)
QUEUES = ("default", "mail", "search")
MAX_ATTEMPTS = 3
RQ_RETRY_INTERVALS = (30, 120, 600)


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
