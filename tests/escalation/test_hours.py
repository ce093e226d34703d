"""escalation.hours: business-hours arithmetic for response-time targets, around weekends, holidays
and daylight-saving changes."""

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import Invalid
from escalation.hours import Calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def new_york(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)


# The example from the brief, and the shape of every due date.

def test_friday_evening_escalation_is_due_monday_morning():
    calendar = Calendar.build(timezone="Europe/Berlin", opens="09:00", closes="18:00")
    due = calendar.add(berlin(2025, 6, 13, 17, 30), HOUR)  # a Friday
    assert due == berlin(2025, 6, 16, 9, 30)
    assert due.astimezone(BERLIN).strftime("%A %H:%M") == "Monday 09:30"


def test_results_are_utc_and_naive_input_is_utc():
    calendar = Calendar()
    due = calendar.add(datetime(2025, 6, 10, 10), HOUR)
    assert due.tzinfo is UTC
    assert due == utc(2025, 6, 10, 11)
    assert calendar.add(new_york(2025, 6, 10, 6), HOUR) == utc(2025, 6, 10, 11)  # 10:00 UTC
    assert calendar.between(datetime(2025, 6, 10, 10), utc(2025, 6, 10, 12)) == 2 * HOUR
    assert calendar.is_open(datetime(2025, 6, 10, 16, 59)) and not calendar.is_open(datetime(2025, 6, 10, 17))


# Weekends, starts outside hours, long targets.

def test_weekend_is_skipped():
    calendar = Calendar()
    assert calendar.add(utc(2025, 6, 13, 16), 2 * HOUR) == utc(2025, 6, 16, 10)
    assert not calendar.is_open(utc(2025, 6, 14, 12))
    assert not calendar.is_open(utc(2025, 6, 15, 12))
    assert calendar.is_open(utc(2025, 6, 16, 9))


@pytest.mark.parametrize(("start", "due"), [
    (utc(2025, 6, 10, 6), utc(2025, 6, 10, 10)),  # Tuesday before opening
    (utc(2025, 6, 10, 17), utc(2025, 6, 11, 10)),  # Tuesday at closing: no time left that day
    (utc(2025, 6, 10, 20), utc(2025, 6, 11, 10)),  # Tuesday evening
    (utc(2025, 6, 14, 11), utc(2025, 6, 16, 10)),  # Saturday
])
def test_a_start_outside_hours_counts_from_the_next_opening(start, due):
    assert Calendar().add(start, HOUR) == due


def test_a_zero_target_outside_hours_is_the_next_opening():
    calendar = Calendar()
    assert calendar.add(utc(2025, 6, 14, 11), 0) == utc(2025, 6, 16, 9)
    assert calendar.add(utc(2025, 6, 10, 11), 0) == utc(2025, 6, 10, 11)


def test_twenty_business_hours_over_a_weekend():
    # Thursday 8 hours, Friday 8, the weekend nothing, Monday the last 4.
    assert Calendar().add(utc(2025, 6, 12, 9), 20 * HOUR) == utc(2025, 6, 16, 13)


def test_targets_of_weeks_end_at_the_right_closing():
    calendar = Calendar()
    assert calendar.add(utc(2025, 6, 2, 9), 80 * HOUR) == utc(2025, 6, 13, 17)  # two working weeks
    assert calendar.add(utc(2025, 6, 2, 9), 6 * 40 * HOUR + 1) == utc(2025, 7, 14, 9, 0, 1)


def test_a_target_may_not_be_negative():
    with pytest.raises(ValueError):
        Calendar().add(utc(2025, 6, 10, 10), -1)


# Holidays.

def test_a_public_holiday_is_closed():
    german = Calendar.build(timezone="Europe/Berlin", holiday_country="DE")
    plain = Calendar.build(timezone="Europe/Berlin")
    start = berlin(2025, 10, 2, 16)  # Thursday before the Day of German Unity (Friday 3 October)
    assert german.add(start, 2 * HOUR) == berlin(2025, 10, 6, 10) == utc(2025, 10, 6, 8)
    assert plain.add(start, 2 * HOUR) == berlin(2025, 10, 3, 10)
    assert not german.is_open(berlin(2025, 10, 3, 12))
    assert german.between(berlin(2025, 10, 2, 9), berlin(2025, 10, 6, 17)) == 16 * HOUR


def test_independence_day_in_the_us():
    calendar = Calendar.build(timezone="America/New_York", holiday_country="US")
    assert calendar.add(new_york(2025, 7, 3, 16), 2 * HOUR) == new_york(2025, 7, 7, 10) == utc(2025, 7, 7, 14)
    assert not calendar.is_open(new_york(2025, 7, 4, 12))


def test_a_regional_holiday_only_closes_its_region():
    bavaria = Calendar.build(timezone="Europe/Berlin", holiday_country="DE", holiday_subdivision="BY")
    berlin_state = Calendar.build(timezone="Europe/Berlin", holiday_country="DE", holiday_subdivision="BE")
    epiphany = berlin(2025, 1, 6, 10)  # a Monday
    assert not bavaria.is_open(epiphany)
    assert berlin_state.is_open(epiphany)
    friday = berlin(2025, 1, 3, 16)
    assert bavaria.add(friday, 2 * HOUR) == berlin(2025, 1, 7, 10) == utc(2025, 1, 7, 9)
    assert berlin_state.add(friday, 2 * HOUR) == berlin(2025, 1, 6, 10)


def test_company_holidays_close_too():
    calendar = Calendar.build(
        timezone="Europe/Berlin", holiday_country="DE", extra_holidays="2025-12-24, 2025-12-31"
    )
    # Tuesday 23 December; the 24th is the company's, the 25th and 26th are Germany's.
    due = calendar.add(berlin(2025, 12, 23, 16), 2 * HOUR)
    assert due == berlin(2025, 12, 29, 10) == utc(2025, 12, 29, 9)
    assert not calendar.is_open(berlin(2025, 12, 31, 10))
    assert calendar.is_open(berlin(2025, 12, 30, 10))


def test_a_calendar_that_never_opens_is_refused_rather_than_looped_over():
    sundays = [date(2025, 1, 5) + timedelta(weeks=week) for week in range(4 * 53)]
    calendar = Calendar(workdays=(6,), extra_holidays=tuple(sundays))
    with pytest.raises(Invalid, match="no open day"):
        calendar.add(utc(2025, 1, 1), HOUR)


# Daylight saving: business hours are local, around the clock is real seconds.

def test_business_hours_in_utc_around_the_european_spring_change():
    calendar = Calendar.build(timezone="Europe/Berlin")
    # Friday 28 March is CET (UTC+1), Monday 31 March is CEST (UTC+2): 09:00 opens an hour earlier in UTC.
    assert not calendar.is_open(utc(2025, 3, 28, 7, 59))
    assert calendar.is_open(utc(2025, 3, 28, 8))
    assert not calendar.is_open(utc(2025, 3, 31, 6, 59))
    assert calendar.is_open(utc(2025, 3, 31, 7))
    assert calendar.add(berlin(2025, 3, 28, 16), 2 * HOUR) == utc(2025, 3, 31, 8)  # 10:00 CEST
    assert calendar.between(utc(2025, 3, 28, 15), utc(2025, 3, 31, 8)) == 2 * HOUR


def test_business_hours_in_utc_around_the_european_autumn_change():
    calendar = Calendar.build(timezone="Europe/Berlin")
    assert calendar.add(berlin(2025, 10, 24, 16), 2 * HOUR) == utc(2025, 10, 27, 9)  # 10:00 CET
    assert calendar.is_open(utc(2025, 10, 27, 8)) and not calendar.is_open(utc(2025, 10, 27, 7, 59))


@pytest.mark.parametrize("day", [date(2025, 3, 30), date(2025, 10, 26)])
def test_an_opening_on_the_day_of_the_change_is_its_real_length(day):
    every_day = Calendar.build(timezone="Europe/Berlin", workdays="mon tue wed thu fri sat sun")
    midnight = datetime.combine(day, time(0), tzinfo=BERLIN)
    assert every_day.between(midnight, midnight + timedelta(days=2)) == 16 * HOUR
    opening = datetime.combine(day, time(9), tzinfo=BERLIN)
    assert every_day.add(opening, 8 * HOUR) == datetime.combine(day, time(17), tzinfo=BERLIN)
    # Hours spanning the change itself count the real time between their ends.
    night = Calendar.build(timezone="Europe/Berlin", workdays=range(7), opens="01:00", closes="04:00")
    night_hours = night.between(midnight, midnight + timedelta(hours=12))
    assert night_hours == (2 * HOUR if day.month == 3 else 4 * HOUR)


def test_business_hours_in_utc_around_the_us_changes():
    calendar = Calendar.build(timezone="America/New_York")
    # Spring: Friday 7 March is EST (UTC-5), Monday 10 March is EDT (UTC-4).
    assert calendar.add(new_york(2025, 3, 7, 16), 2 * HOUR) == utc(2025, 3, 10, 14)
    assert calendar.is_open(utc(2025, 3, 7, 14)) and not calendar.is_open(utc(2025, 3, 7, 13, 59))
    assert calendar.is_open(utc(2025, 3, 10, 13)) and not calendar.is_open(utc(2025, 3, 10, 12, 59))
    # Autumn: Friday 31 October is EDT, Monday 3 November is EST.
    assert calendar.add(new_york(2025, 10, 31, 16), 2 * HOUR) == utc(2025, 11, 3, 15)
    assert calendar.between(utc(2025, 10, 31, 20), utc(2025, 11, 3, 15)) == 2 * HOUR


@pytest.mark.parametrize(("zone", "spring", "autumn"), [
    (BERLIN, date(2025, 3, 30), date(2025, 10, 26)),
    (NEW_YORK, date(2025, 3, 9), date(2025, 11, 2)),
])
def test_around_the_clock_counts_real_seconds_across_a_change(zone, spring, autumn):
    calendar = Calendar.build(timezone=zone.key, around_the_clock=True)
    for day, real_hours in ((spring, 23), (autumn, 25)):
        noon_before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)
        noon_on_the_day = datetime.combine(day, time(12), tzinfo=zone)
        assert calendar.between(noon_before, noon_on_the_day) == real_hours * HOUR
        due = calendar.add(noon_before, 24 * HOUR)
        assert due == noon_before.astimezone(UTC) + timedelta(hours=24)
        assert due.astimezone(zone).hour == (13 if real_hours == 23 else 11)


def test_around_the_clock_ignores_weekends_and_holidays():
    calendar = Calendar.build(around_the_clock=True, holiday_country="DE")
    assert calendar.is_open(utc(2025, 10, 4, 3))
    assert calendar.add(utc(2025, 10, 3, 22), 48 * HOUR) == utc(2025, 10, 5, 22)
    assert calendar.between(utc(2025, 10, 3), utc(2025, 10, 6)) == 72 * HOUR


# between() is the inverse of add().

CALENDARS = [
    Calendar(),
    Calendar.build(timezone="Europe/Berlin", opens="08:30", closes="17:45", holiday_country="DE",
                   holiday_subdivision="BY", extra_holidays="2025-12-24"),
    Calendar.build(timezone="America/New_York", workdays="mon,wed,fri,sat", holiday_country="US"),
    Calendar.build(timezone="Asia/Kolkata", around_the_clock=True),
]
STARTS = [utc(2025, 3, 28, 15, 12), utc(2025, 10, 25, 3), utc(2025, 12, 23, 11, 59, 30), utc(2025, 7, 3, 23)]


@pytest.mark.parametrize("calendar", CALENDARS)
@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("seconds", [0, 1, 45 * 60, 7.5 * HOUR, 26 * HOUR, 200 * HOUR])
def test_between_measures_what_add_added(calendar, start, seconds):
    assert calendar.between(start, calendar.add(start, seconds)) == seconds


@pytest.mark.parametrize("calendar", CALENDARS)
def test_add_reaches_an_open_end_that_between_measured(calendar):
    start = utc(2025, 3, 28, 15, 12)
    for end in (utc(2025, 3, 31, 14, 1), utc(2025, 4, 9, 15, 30), utc(2026, 1, 7, 15)):
        assert calendar.is_open(end)
        assert calendar.add(start, calendar.between(start, end)) == end


def test_between_is_zero_backwards():
    calendar = Calendar()
    assert calendar.between(utc(2025, 6, 10, 12), utc(2025, 6, 10, 11)) == 0
    assert calendar.between(utc(2025, 6, 10, 12), utc(2025, 6, 10, 12)) == 0
    assert calendar.between(utc(2025, 6, 13, 16), utc(2025, 6, 16, 10)) == 2 * HOUR


# Building from admin input.

def test_build_reads_form_input():
    calendar = Calendar.build(
        timezone=" europe/berlin ", workdays=["Mon", "tuesday", "2", 3, "thurs"],
        opens="8:30", closes="16:00", holiday_country="de", holiday_subdivision="Bayern",
        extra_holidays="2025-12-31\n2025-12-24,\n",
    )
    assert calendar == Calendar(
        timezone="Europe/Berlin", workdays=(0, 1, 2, 3), opens=time(8, 30), closes=time(16),
        holiday_country="DE", holiday_subdivision="BY",
        extra_holidays=(date(2025, 12, 24), date(2025, 12, 31)),
    )


def test_around_the_clock_keeps_only_the_time_zone():
    calendar = Calendar.build(timezone="UTC", around_the_clock=True, workdays="", opens="", closes="")
    assert calendar == Calendar(around_the_clock=True)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"opens": "09:00", "closes": "08:00"}, "closes",
     "Business hours must end after they start (09:00 to 08:00). "
     "Hours that run past midnight are not supported"),
    ({"opens": "09:00", "closes": "09:00"}, "closes",
     "Business hours must end after they start (09:00 to 09:00)."),
    ({"timezone": "Mars/Base"}, "timezone", "Unknown time zone 'Mars/Base'."),
    ({"timezone": "Europe"}, "timezone", "Unknown time zone 'Europe'."),
    ({"timezone": ""}, "timezone", "Choose a time zone"),
    ({"holiday_country": "XX"}, "holiday_country", "Unknown holiday region 'XX'."),
    ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "holiday_subdivision",
     "Unknown holiday region 'DE-ZZ'."),
    ({"holiday_subdivision": "BY"}, "holiday_country", "Choose a holiday country for the region 'BY'."),
    ({"extra_holidays": "2025-12-24, 2024-13-01"}, "extra_holidays",
     "Holiday '2024-13-01' is not a date like 2025-12-24."),
    ({"extra_holidays": "24.12.2025"}, "extra_holidays",
     "Holiday '24.12.2025' is not a date like 2025-12-24."),
    ({"workdays": ()}, "workdays", "Choose at least one workday."),
    ({"workdays": " "}, "workdays", "Choose at least one workday."),
    ({"workdays": ["mon", "funday"]}, "workdays", "Unknown workday 'funday'"),
    ({"workdays": [7]}, "workdays", "Unknown workday 7: use 0 (Monday) to 6 (Sunday)."),
    ({"opens": "25:00"}, "opens", "Opening time '25:00' is not a time like 09:00"),
    ({"closes": "17h"}, "closes", "Closing time '17h' is not a time like 09:00"),
    ({"closes": "17:60"}, "closes", "Closing time '17:60' is not a time like 09:00"),
])
def test_build_refuses_bad_input_with_a_clear_message(fields, field, message):
    with pytest.raises(Invalid) as raised:
        Calendar.build(**fields)
    assert raised.value.message.startswith(message)
    assert raised.value.field == field


def test_a_calendar_made_directly_is_checked_too():
    with pytest.raises(Invalid, match="must end after they start"):
        Calendar(opens=time(17), closes=time(9))
    with pytest.raises(Invalid, match="Unknown time zone"):
        Calendar(timezone="Mars/Base")
    with pytest.raises(Invalid, match="Unknown holiday region 'DE-by'"):
        Calendar(holiday_country="DE", holiday_subdivision="by")  # build() would have fixed the case


# Storing the calendar with an escalation.

@pytest.mark.parametrize("calendar", CALENDARS + [Calendar(opens=time(9, 0, 30), closes=time(23, 59, 59))])
def test_json_round_trip(calendar):
    stored = json.loads(json.dumps(calendar.to_json()))
    assert Calendar.from_json(stored) == calendar


def test_from_json_fills_missing_keys_and_refuses_broken_data():
    assert Calendar.from_json({}) == Calendar()
    assert Calendar.from_json({"timezone": "Europe/Berlin", "workdays": [4, 0]}).workdays == (0, 4)
    with pytest.raises(Invalid):
        Calendar.from_json({"opens": "18:00"})
    with pytest.raises(Invalid):
        Calendar.from_json({"extra_holidays": ["soon"]})
