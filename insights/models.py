"""Insights rows: metric snapshots per period and split, and the askers' satisfaction ratings."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core import clock
from core.extensions import db
from forum.models import Thread

# Periods a snapshot covers: a calendar day, an ISO week (Monday to Sunday), or a named range
# (the dashboard's last 7/30/90 days and last month, computed over the range itself).
DAY, WEEK, RANGE = "day", "week", "range"
PERIODS = (DAY, WEEK, RANGE)
# How a snapshot's figures are split: the whole community, or one category, team or staff member.
# dimension_id 0 is "none of them": no team, or (for staff) the unassigned escalations.
ALL, CATEGORY, TEAM, STAFF = "all", "category", "team", "staff"
DIMENSIONS = (ALL, CATEGORY, TEAM, STAFF)

# Who solved a thread a rating is about (the same three as the resolution shares), or closed.
PEER, SELF, STAFF_SOLVED, CLOSED = "peer", "self", "staff", "closed"
RESOLVERS = (PEER, SELF, STAFF_SOLVED, CLOSED)
COMMENT_MAX = 2000


class Snapshot(db.Model):
    """The measures of one period and one split, as METRICS.md names them (a JSON object).
    Re-running a period's roll-up replaces its rows."""

    __tablename__ = "insight_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(10))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)  # included
    dimension: Mapped[str] = mapped_column(sa.String(10))
    dimension_id: Mapped[int] = mapped_column(default=0)
    measures: Mapped[dict] = mapped_column(sa.JSON)
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("period", "period_start", "period_end", "dimension", "dimension_id",
                            name="uq_insight_snapshots_key"),
        sa.CheckConstraint(f"period IN ({', '.join(repr(p) for p in PERIODS)})", name="period_known"),
        sa.CheckConstraint(f"dimension IN ({', '.join(repr(d) for d in DIMENSIONS)})",
                           name="dimension_known"),
    )


class SatisfactionRating(db.Model):
    """The one question put to an asker once their thread is solved or closed: did this solve your
    problem? `score` (1-5) and the comment stay empty until they answer; they answer once."""

    __tablename__ = "insight_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), unique=True)
    asker_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    resolver: Mapped[str] = mapped_column(sa.String(10))
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("categories.id", ondelete="SET NULL"))
    asked_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    score: Mapped[int | None] = mapped_column()
    comment: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    rated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)

    thread: Mapped[Thread] = relationship()
    asker: Mapped[User] = relationship()

    __table_args__ = (
        sa.CheckConstraint("score IS NULL OR (score BETWEEN 1 AND 5)", name="score_in_range"),
        sa.CheckConstraint(f"resolver IN ({', '.join(repr(r) for r in RESOLVERS)})", name="resolver_known"),
    )


class InsightSetting(db.Model):
    """An admin's choice about insights, by name (whether the leaderboard is public)."""

    __tablename__ = "insight_settings"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[bool] = mapped_column(default=False)


class SummaryMail(db.Model):
    """The weekly summary of one ISO week (its Monday) for one recipient: written when the mail is
    queued, `mailed_at` once it is sent, so that neither the week's fan-out nor a mail repeats."""

    __tablename__ = "insight_summary_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(sa.Date)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    queued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    mailed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("week_start", "user_id", name="uq_insight_summary_mails_week_user"),
    )
