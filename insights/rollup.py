"""Snapshots: the measures of each day, ISO week and named range stored per split, so that the
dashboard reads stored rows. A period's roll-up replaces its rows in one transaction; the database
stays the source of truth, and `recompute` rebuilds any range of them."""

from collections.abc import Callable, Iterable
from datetime import date, timedelta

import sqlalchemy as sa

from core import clock
from core.extensions import db
from insights import backlog, measures
from insights.models import ALL, CATEGORY, DAY, DIMENSIONS, RANGE, WEEK, Snapshot

SPLITS = DIMENSIONS
SWEEP_FROM = 8  # periods in a recompute from which the backlogs are swept at once


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


def store(period: str, first: date, last: date, backlogs: dict | None = None) -> int:
    """Compute the period's measures for every split and replace its snapshots; returns the rows
    stored. Commits. `backlogs`: the period's backlog per split, swept already (insights.backlog)."""
    if backlogs is None:
        computed = measures.compute_splits(first, last, SPLITS)
    else:
        computed = measures.compute_splits(first, last, SPLITS, backlog=False)
        for split, rows in backlogs.items():
            for key, values in rows.items():
                row = computed[split].setdefault(key, measures.empty(first, last, split))
                row.update((name, value) for name, value in values.items() if row[name] is not None)
    db.session.execute(sa.delete(Snapshot).where(Snapshot.period == period, Snapshot.period_start == first,
                                                 Snapshot.period_end == last))
    now = clock.now()
    rows = [Snapshot(period=period, period_start=first, period_end=last, dimension=split, dimension_id=key,
                     measures=values, computed_at=now)
            for split, found in computed.items() for key, values in found.items()
            if not (split == CATEGORY and key == 0)]
    db.session.add_all(rows)
    db.session.commit()
    return len(rows)


def roll_up_day(day: date) -> int:
    return store(DAY, day, day)


def roll_up_week(monday: date) -> int:
    return store(WEEK, monday, monday + timedelta(days=6))


def named_ranges(today: date) -> dict[str, tuple[date, date]]:
    """The dashboard's periods, each of whole days that have ended: the last 7, 30 and 90 days
    (to yesterday), last week (Monday to Sunday) and last month."""
    yesterday = today - timedelta(days=1)
    this_month = today.replace(day=1)
    last_month_end = this_month - timedelta(days=1)
    monday = week_start(today)
    return {
        "7d": (yesterday - timedelta(days=6), yesterday),
        "30d": (yesterday - timedelta(days=29), yesterday),
        "90d": (yesterday - timedelta(days=89), yesterday),
        "last-week": (monday - timedelta(days=7), monday - timedelta(days=1)),
        "last-month": (last_month_end.replace(day=1), last_month_end),
    }


def previous(first: date, last: date) -> tuple[date, date]:
    """The period of the same length just before [first, last]; for a calendar month, the month
    before."""
    if first.day == 1 and (last + timedelta(days=1)).day == 1:
        end = first - timedelta(days=1)
        return end.replace(day=1), end
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


def roll_up_ranges(today: date) -> int:
    """The named ranges and the periods before them (what their cards compare with)."""
    stored = 0
    for first, last in named_ranges(today).values():
        stored += _store_period(first, last)
        stored += _store_period(*previous(first, last))
    return stored


def period_kind(first: date, last: date) -> str:
    """How the period [first, last] is stored: a day, an ISO week, or a range."""
    if first == last:
        return DAY
    if first == week_start(first) and last == first + timedelta(days=6):
        return WEEK
    return RANGE


def _store_period(first: date, last: date) -> int:
    return store(period_kind(first, last), first, last)


def find(first: date, last: date, split: str = ALL) -> dict[int, dict] | None:
    """The stored measures of exactly this period per split key, or None when none are stored."""
    period = period_kind(first, last)
    rows = db.session.execute(
        sa.select(Snapshot.dimension_id, Snapshot.measures).where(
            Snapshot.period == period, Snapshot.period_start == first, Snapshot.period_end == last,
            Snapshot.dimension == split)).all()
    return {key: values for key, values in rows} if rows else None


def stored_series(period: str, first: date, last: date) -> dict[date, dict]:
    """{start: overall measures} of the stored days (or weeks) that start from `first` to `last`."""
    return dict(db.session.execute(
        sa.select(Snapshot.period_start, Snapshot.measures).where(
            Snapshot.period == period, Snapshot.period_start >= first, Snapshot.period_start <= last,
            Snapshot.dimension == ALL)).all())


def recompute(first: date, last: date, progress: Callable[[Iterable], Iterable] = lambda items: items) -> int:
    """Rebuild the snapshots of every day from `first` to `last`, of the ISO weeks that touch them,
    and drop the stored ranges that overlap them (they are computed again when next asked for).
    Returns the rows stored."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    mondays = sorted({week_start(day) for day in days})
    periods = [(DAY, day, day) for day in days]
    periods += [(WEEK, monday, monday + timedelta(days=6)) for monday in mondays]
    # Over many periods, the backlogs of those that have ended come from one sweep of the history.
    swept = {}
    if len(periods) >= SWEEP_FROM:
        ends = {period: measures.Window(period[1], period[2]).end for period in periods}
        ended = [period for period in periods
                 if ends[period] <= clock.now() and backlog.aligned(ends[period])]
        swept = dict(zip(ended, backlog.backlogs([ends[period] for period in ended], SPLITS), strict=True))
    stored = 0
    for period in progress(periods):
        stored += store(*period, backlogs=swept.get(period))
    db.session.execute(sa.delete(Snapshot).where(Snapshot.period == RANGE, Snapshot.period_start <= last,
                                                 Snapshot.period_end >= first))
    db.session.commit()
    return stored
