"""The one place that reads the time, so tests, jobs and the database defaults agree on it.

Everything asks `clock.now()`. Tests move the clock instead of sleeping (`with clock.moved(hours=1):`
or `clock.set(...)`); the in-process job runners read the same clock, so a job run "an hour later"
sees the hour. A worker in another process reads the real time.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Now, as a timezone-aware UTC datetime."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def as_utc(value: datetime | None) -> datetime | None:
    """A datetime read back from the database, as aware UTC (SQLite drops the zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def set(moment: datetime | None) -> None:  # noqa: A001 - read as clock.set(...)
    """Stop the clock at `moment` (aware, or taken as UTC); None starts it again."""
    global _frozen
    _frozen = as_utc(moment)


def advance(**delta: float) -> None:
    """Move the clock forward (or back, with negative values) by a timedelta's keywords."""
    global _offset, _frozen
    step = timedelta(**delta)
    if _frozen is not None:
        _frozen += step
    else:
        _offset += step


def reset() -> None:
    """The real time again."""
    global _offset, _frozen
    _offset, _frozen = timedelta(0), None


@contextmanager
def moved(**delta: float) -> Iterator[None]:
    """Run a block as if it were `delta` later (e.g. `moved(hours=1)`), then come back."""
    global _offset, _frozen
    saved = _offset, _frozen
    advance(**delta)
    try:
        yield
    finally:
        _offset, _frozen = saved
