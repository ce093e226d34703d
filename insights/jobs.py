"""Background jobs of insights: the roll-ups of today and of the periods that have ended."""

from datetime import timedelta

import sqlalchemy as sa

from core.extensions import db
from insights import measures, rollup
from insights.models import ALL, DAY, Snapshot


def roll_up_today() -> None:
    """Today's and this week's snapshots, so far (every few minutes)."""
    today = measures.today()
    rollup.roll_up_day(today)
    rollup.roll_up_week(rollup.week_start(today))


def roll_up_closed_periods() -> None:
    """Once a day: yesterday, the last whole week, and the dashboard's named ranges. Runs every
    hour and does the work only when yesterday's snapshot predates the end of yesterday, so a
    worker that was down catches up and a second run is a no-op."""
    today = measures.today()
    yesterday = today - timedelta(days=1)
    computed = db.session.scalar(sa.select(Snapshot.computed_at).where(
        Snapshot.period == DAY, Snapshot.period_start == yesterday, Snapshot.dimension == ALL))
    if computed is not None and measures.as_site_time(computed).date() >= today:
        return
    rollup.roll_up_day(yesterday)
    rollup.roll_up_week(rollup.week_start(today) - timedelta(days=7))
    rollup.roll_up_ranges(today)
