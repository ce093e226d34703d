"""Business hours for response-time targets: which moments count, and when a target falls due.

A `Calendar` says when staff are at work: a time zone, the workdays, the opening hours and the
closed days (public holidays of a country or region, and the company's own). Days and hours are
read in the calendar's zone; every moment going in may be in any zone (naive means UTC), and every
moment coming out is aware UTC. An opening of 09:00-17:00 local is 8 real hours even on the day the
clocks change; around the clock counts real elapsed seconds.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

from core.clock import as_utc
from core.errors import Invalid

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A calendar with no open day for this long is broken, not just quiet: stop looking.
MAX_CLOSED_DAYS = 3 * 366
ONE_DAY = timedelta(days=1)

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Calendar:
    """When staff are at work. Build one from admin input with `Calendar.build`."""

    timezone: str = "UTC"
    around_the_clock: bool = False
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    opens: time = time(9)
    closes: time = time(17)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    extra_holidays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        _zone(self.timezone)
        for day in self.workdays:
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise Invalid(f"Unknown workday {day!r}: use 0 (Monday) to 6 (Sunday).", field="workdays")
        for day in self.extra_holidays:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise Invalid(f"Holiday {day!r} is not a date like 2025-12-24.", field="extra_holidays")
        # Sorted, unique tuples: equal calendars compare (and hash) equal, and survive a JSON round trip.
        object.__setattr__(self, "workdays", tuple(sorted(set(self.workdays))))
        object.__setattr__(self, "extra_holidays", tuple(sorted(set(self.extra_holidays))))
        if self.around_the_clock:
            return  # hours, days and holidays do not apply
        if not self.workdays:
            raise Invalid("Choose at least one workday.", field="workdays")
        if self.closes <= self.opens:
            raise Invalid(
                f"Business hours must end after they start ({_clock(self.opens)} to {_clock(self.closes)}). "
                "Hours that run past midnight are not supported: close by 23:59, or choose around the clock.",
                field="closes",
            )
        _check_region(self.holiday_country, self.holiday_subdivision)

    @classmethod
    def build(
        cls,
        *,
        timezone: str = "UTC",
        around_the_clock: bool = False,
        workdays: Iterable[int | str] | str = (0, 1, 2, 3, 4),
        opens: str | time = "09:00",
        closes: str | time = "17:00",
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        extra_holidays: str | Iterable[str | date] = "",
    ) -> "Calendar":
        """Validate admin input and return a Calendar; raises Invalid with a message for the admin.

        Times are 'HH:MM'; workdays are numbers (0 is Monday) or names like 'mon' or 'Monday';
        extra holidays are dates like 2025-12-24, separated by commas or new lines. Around the clock,
        only the time zone is kept: the other fields do not apply.
        """
        zone_name = _zone_name(timezone)
        if around_the_clock:
            return cls(timezone=zone_name, around_the_clock=True)
        country = (holiday_country or "").strip().upper() or None
        subdivision = (holiday_subdivision or "").strip() or None
        if subdivision and not country:
            raise Invalid(
                f"Choose a holiday country for the region '{subdivision}'.", field="holiday_country"
            )
        if country:
            _check_region(country, None)
            subdivision = _subdivision_code(country, subdivision)
        return cls(
            timezone=zone_name,
            workdays=_parse_workdays(workdays),
            opens=_parse_time(opens, "Opening time", "opens"),
            closes=_parse_time(closes, "Closing time", "closes"),
            holiday_country=country,
            holiday_subdivision=subdivision,
            extra_holidays=_parse_dates(extra_holidays),
        )

    def to_json(self) -> dict[str, Any]:
        """The calendar as a JSON-safe dict, for `from_json` to read back."""
        return {
            "timezone": self.timezone,
            "around_the_clock": self.around_the_clock,
            "workdays": list(self.workdays),
            "opens": _clock(self.opens),
            "closes": _clock(self.closes),
            "holiday_country": self.holiday_country,
            "holiday_subdivision": self.holiday_subdivision,
            "extra_holidays": [day.isoformat() for day in self.extra_holidays],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Calendar":
        """The calendar `to_json` wrote (missing keys take their defaults); raises Invalid if it is broken."""
        default = cls()
        return cls(
            timezone=data.get("timezone", default.timezone),
            around_the_clock=bool(data.get("around_the_clock", default.around_the_clock)),
            workdays=tuple(data.get("workdays", default.workdays)),
            opens=_parse_time(data.get("opens", default.opens), "Opening time", "opens"),
            closes=_parse_time(data.get("closes", default.closes), "Closing time", "closes"),
            holiday_country=data.get("holiday_country"),
            holiday_subdivision=data.get("holiday_subdivision"),
            extra_holidays=_parse_dates(data.get("extra_holidays", ())),
        )

    def is_workday(self, day: date) -> bool:
        """Whether staff work on this local date at all (a workday, and no holiday)."""
        if self.around_the_clock:
            return True
        if day.weekday() not in self.workdays or day in self.extra_holidays:
            return False
        if self.holiday_country:
            return day not in _public_holidays(self.holiday_country, self.holiday_subdivision, day.year)
        return True

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` is within business hours (opening time included, closing time not)."""
        if self.around_the_clock:
            return True
        moment = _utc(moment)
        window = self._window(moment.astimezone(_zone(self.timezone)).date())
        return window is not None and window[0] <= moment < window[1]

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of business time after `start` (aware datetime, any zone; returns UTC-aware).
        A start outside hours begins counting at the next opening.

        Raises Invalid if the calendar has no open day for years, and ValueError for a negative target.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"A target must be a finite number of seconds, not {seconds!r}.")
        start = _utc(start)
        if self.around_the_clock:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        day = start.astimezone(_zone(self.timezone)).date()
        closed_days = 0
        while True:
            window = self._window(day)
            if window is None:
                closed_days += 1
                if closed_days > MAX_CLOSED_DAYS:
                    raise Invalid(
                        f"The business calendar has no open day from {day - timedelta(days=MAX_CLOSED_DAYS)} "
                        f"to {day}: check its workdays and holidays."
                    )
            else:
                closed_days = 0
                begin = max(window[0], start)
                if begin < window[1]:
                    if remaining <= window[1] - begin:
                        return begin + remaining
                    remaining -= window[1] - begin
            day += ONE_DAY

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds from start to end (0 if end <= start)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        if self.around_the_clock:
            return (end - start).total_seconds()
        zone = _zone(self.timezone)
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        total = timedelta(0)
        while day <= last:
            window = self._window(day)
            if window is not None:
                overlap = min(window[1], end) - max(window[0], start)
                if overlap > timedelta(0):
                    total += overlap
            day += ONE_DAY
        return total.total_seconds()

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC opening and closing of a local date, or None if it is closed."""
        if not self.is_workday(day):
            return None
        zone = _zone(self.timezone)
        # Each end is converted on its own, so the window is as long as the real time between them.
        # A wall time skipped by a DST change is read with the offset before the change (fold=0).
        opens = datetime.combine(day, self.opens, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.closes, tzinfo=zone).astimezone(UTC)
        return (opens, closes) if opens < closes else None


@lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of a country (and region) in one year; cached, as sweeps ask for many threads."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive ones are taken as UTC."""
    result = as_utc(moment)
    assert result is not None
    return result


def _zone(name: str) -> ZoneInfo:
    """The zone called `name`; raises Invalid if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise Invalid(f"Unknown time zone '{name}'.", field="timezone") from None


def _zone_name(name: str) -> str:
    """The IANA name for an admin's time zone, forgiving the case ('europe/berlin'); raises Invalid."""
    name = (name or "").strip()
    if not name:
        raise Invalid("Choose a time zone, like Europe/Berlin or UTC.", field="timezone")
    try:
        _zone(name)
        return name
    except Invalid:
        matches = [known for known in available_timezones() if known.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
        raise


@lru_cache(maxsize=1)
def _supported_regions() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def _check_region(country: str | None, subdivision: str | None) -> None:
    """Raises Invalid unless the holidays package knows the country and (if given) its subdivision."""
    if country is None:
        if subdivision is not None:
            raise Invalid(
                f"Choose a holiday country for the region '{subdivision}'.", field="holiday_country"
            )
        return
    if country not in _supported_regions():
        raise Invalid(f"Unknown holiday region '{country}'.", field="holiday_country")
    if subdivision is not None:
        try:
            _public_holidays(country, subdivision, 2000)
        except NotImplementedError:
            raise Invalid(
                f"Unknown holiday region '{country}-{subdivision}'.", field="holiday_subdivision"
            ) from None


def _subdivision_code(country: str, subdivision: str | None) -> str | None:
    """The holidays package's code for a subdivision typed in any case, or by its name ('Bayern')."""
    if subdivision is None:
        return None
    entity = holidays.country_holidays(country)
    names = {code: code for code in entity.subdivisions}
    names.update(getattr(entity, "subdivisions_aliases", {}))
    for name, code in names.items():
        if name.casefold() == subdivision.casefold():
            return code
    raise Invalid(f"Unknown holiday region '{country}-{subdivision}'.", field="holiday_subdivision")


def _parse_workdays(value: Iterable[int | str] | str) -> tuple[int, ...]:
    """Day numbers from numbers, digit strings or day names ('mon', 'Tuesday'); raises Invalid."""
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
    days = set()
    for item in items:
        if isinstance(item, str):
            word = item.strip().lower()
            if not word:
                continue
            if word.isdigit():
                item = int(word)
            else:
                named = [number for number, name in enumerate(DAY_NAMES)
                         if len(word) >= 3 and name.startswith(word)]
                if not named:
                    raise Invalid(f"Unknown workday '{item.strip()}': use names like mon or tuesday.",
                                  field="workdays")
                item = named[0]
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 6:
            raise Invalid(f"Unknown workday {item!r}: use 0 (Monday) to 6 (Sunday).", field="workdays")
        days.add(item)
    if not days:
        raise Invalid("Choose at least one workday.", field="workdays")
    return tuple(sorted(days))


def _parse_time(value: str | time, label: str, field: str) -> time:
    """A time from 'HH:MM' (or 'HH:MM:SS'); raises Invalid naming the field."""
    if isinstance(value, time):
        return value
    text = str(value).strip()
    match = _TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        hour, minute, second = (int(part or 0) for part in match.groups())
        return time(hour, minute, second)
    except ValueError:
        raise Invalid(f"{label} '{text}' is not a time like 09:00 (24-hour clock).", field=field) from None


def _parse_dates(value: str | Iterable[str | date]) -> tuple[date, ...]:
    """Dates from a list or a comma- or newline-separated string; raises Invalid for a malformed one."""
    items = re.split(r"[,;\s]+", value) if isinstance(value, str) else list(value)
    days = set()
    for item in items:
        if isinstance(item, datetime):
            item = item.date()
        if isinstance(item, date):
            days.add(item)
            continue
        text = str(item).strip()
        if not text:
            continue
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            days.add(date.fromisoformat(text))
        except ValueError:
            message = f"Holiday '{text}' is not a date like 2025-12-24."
            raise Invalid(message, field="extra_holidays") from None
    return tuple(sorted(days))


def _clock(moment: time) -> str:
    """'09:00', or '09:00:30' when there are seconds."""
    return moment.isoformat(timespec="minutes" if moment.second == 0 else "seconds")
