"""Business-time arithmetic, with exact instants: hours, weekends, holidays, zones and DST.

Pure functions, no database. DST dates used: Europe/Berlin goes forward on 2025-03-30 at 02:00
(01:00 UTC) and back on 2025-10-26 at 03:00 (01:00 UTC); America/New_York goes forward on
2025-03-09; America/Santiago jumps from midnight to 01:00 on 2025-09-07.
"""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.sla.business_time import (
    Calendar,
    CalendarError,
    Window,
    add_business_time,
    build_calendar,
    business_time_between,
    calendar_from_json,
    calendar_to_json,
    format_weekly_hours,
    is_open,
    parse_time_zone,
    parse_weekly_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def office() -> Calendar:
    return build_calendar(time_zone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5)


# --- 24/7 -------------------------------------------------------------------------------------


def test_without_a_calendar_business_time_is_elapsed_time() -> None:
    start = berlin(2025, 3, 29, 12, 0)  # across the spring-forward night
    assert add_business_time(start, hours(24), None) == utc(2025, 3, 30, 11, 0)
    assert business_time_between(start, berlin(2025, 3, 30, 12, 0), None) == hours(23)


def test_results_are_in_utc_whatever_the_input_zone() -> None:
    start = datetime(2025, 1, 6, 14, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # 08:30 UTC
    result = add_business_time(start, timedelta(minutes=30), None)
    assert result == utc(2025, 1, 6, 9, 0)
    assert result.tzinfo is UTC


# --- weekly hours -----------------------------------------------------------------------------


def test_within_one_working_day(office: Calendar) -> None:
    assert add_business_time(berlin(2025, 1, 6, 10, 0), hours(4), office) == utc(2025, 1, 6, 13)


def test_a_target_that_ends_at_closing_time_is_due_at_closing_time(office: Calendar) -> None:
    assert add_business_time(berlin(2025, 1, 6, 9, 0), hours(8), office) == utc(2025, 1, 6, 16)


def test_after_closing_time_the_clock_starts_next_morning(office: Calendar) -> None:
    due = add_business_time(berlin(2025, 1, 6, 17, 0), timedelta(minutes=1), office)
    assert due == berlin(2025, 1, 7, 9, 1)


def test_before_opening_time_the_clock_starts_at_opening(office: Calendar) -> None:
    due = add_business_time(berlin(2025, 1, 6, 7, 0), timedelta(minutes=30), office)
    assert due == berlin(2025, 1, 6, 9, 30)


def test_friday_afternoon_runs_into_monday(office: Calendar) -> None:
    due = add_business_time(berlin(2025, 1, 10, 16, 0), hours(2), office)
    assert due == utc(2025, 1, 13, 9, 0)  # Monday 10:00 in Berlin (CET)


def test_the_weekend_counts_nothing(office: Calendar) -> None:
    assert add_business_time(berlin(2025, 1, 11, 12, 0), hours(1), office) == berlin(
        2025, 1, 13, 10, 0
    )
    assert business_time_between(berlin(2025, 1, 11), berlin(2025, 1, 13), office) == hours(0)


def test_a_long_target_spans_weeks(office: Calendar) -> None:
    # 5 working days of 8 hours from Monday 09:00 end on Friday 17:00; one minute more is Monday.
    assert add_business_time(berlin(2025, 1, 6, 9), hours(40), office) == berlin(2025, 1, 10, 17)
    due = add_business_time(berlin(2025, 1, 6, 9), hours(40) + timedelta(minutes=1), office)
    assert due == berlin(2025, 1, 13, 9, 1)


def test_adding_nothing_is_the_start(office: Calendar) -> None:
    start = berlin(2025, 1, 11, 12, 0)  # even when closed
    assert add_business_time(start, timedelta(0), office) == start


def test_seconds_are_kept_exactly(office: Calendar) -> None:
    start = datetime(2025, 1, 6, 16, 59, 59, 250_000, tzinfo=BERLIN)
    due = add_business_time(start, timedelta(seconds=1), office)
    assert due == datetime(2025, 1, 7, 9, 0, 0, 250_000, tzinfo=BERLIN)


def test_lunch_breaks_are_not_business_time() -> None:
    calendar = build_calendar(
        time_zone="Europe/Berlin", weekly_hours={"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}
    )
    assert add_business_time(berlin(2025, 1, 6, 11), hours(2), calendar) == berlin(2025, 1, 6, 14)
    assert business_time_between(berlin(2025, 1, 6, 8), berlin(2025, 1, 6, 18), calendar) == hours(
        7
    )


def test_a_night_shift_split_at_midnight_runs_through() -> None:
    calendar = build_calendar(
        time_zone="Europe/Berlin",
        weekly_hours={"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]},
    )
    assert add_business_time(berlin(2025, 1, 6, 23), hours(2), calendar) == berlin(2025, 1, 7, 1)
    assert business_time_between(berlin(2025, 1, 6, 12), berlin(2025, 1, 7, 12), calendar) == hours(
        8
    )


def test_between_is_zero_when_the_end_is_not_after_the_start(office: Calendar) -> None:
    start = berlin(2025, 1, 6, 10)
    assert business_time_between(start, start, office) == timedelta(0)
    assert business_time_between(start, start - hours(1), office) == timedelta(0)


def test_between_counts_partial_windows_at_both_ends(office: Calendar) -> None:
    assert business_time_between(
        berlin(2025, 1, 6, 16, 30), berlin(2025, 1, 8, 9, 15), office
    ) == timedelta(hours=8, minutes=45)


# --- holidays ---------------------------------------------------------------------------------


def test_holidays_are_closed_all_day() -> None:
    calendar = build_calendar(
        time_zone="Europe/Berlin",
        weekly_hours=WEEKDAYS_9_TO_5,
        holidays=[date(2025, 12, 25), date(2025, 12, 26)],
    )
    # Wednesday 24th 16:00 + 2 h: one hour on the 24th, then Thursday and Friday are holidays.
    due = add_business_time(berlin(2025, 12, 24, 16), hours(2), calendar)
    assert due == utc(2025, 12, 29, 9, 0)  # Monday 10:00 CET
    assert business_time_between(berlin(2025, 12, 24), berlin(2025, 12, 30), calendar) == hours(16)


def test_a_holiday_is_a_local_date() -> None:
    # 23:30 UTC on the 24th is already the 25th in Berlin: closed.
    calendar = build_calendar(
        time_zone="Europe/Berlin", weekly_hours=ALL_DAY, holidays=[date(2025, 12, 25)]
    )
    assert not is_open(calendar, utc(2025, 12, 24, 23, 30))
    assert is_open(calendar, utc(2025, 12, 24, 22, 30))


def test_a_calendar_closed_for_years_is_an_error_not_a_hang() -> None:
    start = date(2025, 1, 1)
    calendar = build_calendar(
        time_zone="UTC",
        weekly_hours=ALL_DAY,
        holidays=[start + timedelta(days=n) for n in range(4 * 366)],
    )
    with pytest.raises(CalendarError):
        add_business_time(utc(2025, 1, 1), hours(1), calendar)


# --- time zones and DST -----------------------------------------------------------------------


def test_working_hours_follow_the_local_clock_across_spring_forward(office: Calendar) -> None:
    # Friday 16:00 CET (15:00 UTC) + 2 h: 1 h on Friday, 1 h on Monday, now in CEST (UTC+2).
    start = berlin(2025, 3, 28, 16)
    due = add_business_time(start, hours(2), office)
    assert due == utc(2025, 3, 31, 8, 0)
    assert due - start == hours(65)  # 66 wall-clock hours, one of which never happened
    assert business_time_between(start, due, office) == hours(2)


def test_working_hours_follow_the_local_clock_across_fall_back(office: Calendar) -> None:
    start = berlin(2025, 10, 24, 16)  # Friday, CEST: 14:00 UTC
    due = add_business_time(start, hours(2), office)
    assert due == utc(2025, 10, 27, 9, 0)  # Monday 10:00 CET
    assert due - start == hours(67)


def test_an_all_day_calendar_has_a_23_hour_day_in_spring_and_25_in_autumn() -> None:
    calendar = build_calendar(time_zone="Europe/Berlin", weekly_hours=ALL_DAY)
    spring = business_time_between(berlin(2025, 3, 30), berlin(2025, 3, 31), calendar)
    autumn = business_time_between(berlin(2025, 10, 26), berlin(2025, 10, 27), calendar)
    assert (spring, autumn) == (hours(23), hours(25))
    # and adding across either night is plain elapsed time, as without a calendar (note that
    # Python's own berlin(...) + timedelta would add wall-clock time: 25 real hours here)
    start = berlin(2025, 10, 25, 12)  # 10:00 UTC
    assert add_business_time(start, hours(24), calendar) == utc(2025, 10, 26, 10, 0)
    assert add_business_time(start, hours(24), calendar) == add_business_time(
        start, hours(24), None
    )


def test_a_window_opening_in_the_spring_gap_opens_when_the_clocks_jump() -> None:
    calendar = build_calendar(time_zone="Europe/Berlin", weekly_hours={"sun": [["02:30", "04:00"]]})
    # On 2025-03-30 02:30 never happens: the window runs 03:00-04:00 CEST (01:00-02:00 UTC).
    assert add_business_time(berlin(2025, 3, 30, 0), timedelta(0), calendar) == berlin(
        2025, 3, 30, 0
    )
    assert add_business_time(berlin(2025, 3, 30, 0), timedelta(minutes=1), calendar) == utc(
        2025, 3, 30, 1, 1
    )
    day = (berlin(2025, 3, 30), berlin(2025, 3, 31))
    assert business_time_between(*day, calendar) == hours(1)
    normal_sunday = (berlin(2025, 3, 23), berlin(2025, 3, 24))
    assert business_time_between(*normal_sunday, calendar) == hours(1.5)


def test_a_window_opening_at_an_autumn_time_that_happens_twice_opens_the_first_time() -> None:
    calendar = build_calendar(time_zone="Europe/Berlin", weekly_hours={"sun": [["02:30", "04:00"]]})
    # First 02:30 is CEST (00:30 UTC); 04:00 is CET (03:00 UTC): 2.5 real hours.
    assert add_business_time(berlin(2025, 10, 26, 0), timedelta(minutes=1), calendar) == utc(
        2025, 10, 26, 0, 31
    )
    day = (berlin(2025, 10, 26), berlin(2025, 10, 27))
    assert business_time_between(*day, calendar) == hours(2.5)


def test_a_zone_that_skips_midnight_opens_when_its_clocks_jump() -> None:
    calendar = build_calendar(
        time_zone="America/Santiago", weekly_hours={"sun": [["00:00", "02:00"]]}
    )
    santiago = ZoneInfo("America/Santiago")
    day = (datetime(2025, 9, 7, tzinfo=santiago), datetime(2025, 9, 8, tzinfo=santiago))
    # Midnight never happens on 2025-09-07: 23:59:59 -04 is followed by 01:00 -03 (04:00 UTC).
    assert business_time_between(*day, calendar) == hours(1)
    assert add_business_time(day[0], timedelta(minutes=1), calendar) == utc(2025, 9, 7, 4, 1)


def test_new_york_hours_are_counted_in_new_york() -> None:
    calendar = build_calendar(time_zone="America/New_York", weekly_hours=WEEKDAYS_9_TO_5)
    # Friday 2025-03-07 16:00 EST (21:00 UTC) + 2 h: Monday 10:00 EDT (14:00 UTC).
    start = datetime(2025, 3, 7, 16, tzinfo=NEW_YORK)
    assert add_business_time(start, hours(2), calendar) == utc(2025, 3, 10, 14, 0)
    # The same instant is Friday 22:00 in Berlin, where the office is closed until Monday.
    berlin_office = build_calendar(time_zone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5)
    assert add_business_time(start, hours(2), berlin_office) == utc(2025, 3, 10, 10, 0)


def test_adding_then_measuring_gives_back_the_amount() -> None:
    """Over a year with both DST changes, holidays, and odd amounts: the two agree exactly."""
    calendars = [
        build_calendar(
            time_zone=zone,
            weekly_hours={
                **WEEKDAYS_9_TO_5,
                "wed": [["08:00", "12:00"], ["12:30", "18:45"]],
                "sat": [["22:00", "24:00"]],
                "sun": [["00:00", "03:30"]],
            },
            holidays=[date(2025, 3, 31), date(2025, 10, 27), date(2025, 12, 25)],
        )
        for zone in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu")
    ]
    rng = random.Random(20251026)
    for _ in range(400):
        calendar = rng.choice([*calendars, None])
        start = utc(2025, 1, 1) + timedelta(seconds=rng.randrange(365 * 86_400))
        amount = timedelta(seconds=rng.randrange(1, 60 * 3600))
        due = add_business_time(start, amount, calendar)
        assert due >= start
        assert business_time_between(start, due, calendar) == amount
        middle = start + (due - start) / 2
        assert (
            business_time_between(start, middle, calendar)
            + business_time_between(middle, due, calendar)
            == amount
        )


# --- validation -------------------------------------------------------------------------------


def test_naive_datetimes_and_negative_amounts_are_refused(office: Calendar) -> None:
    with pytest.raises(ValueError, match="time zone"):
        add_business_time(datetime(2025, 1, 6, 9), hours(1), office)
    with pytest.raises(ValueError, match="negative"):
        add_business_time(berlin(2025, 1, 6, 9), -hours(1), office)
    with pytest.raises(ValueError, match="time zone"):
        business_time_between(berlin(2025, 1, 6, 9), datetime(2025, 1, 7), office)


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"])
def test_iana_zones_are_accepted(name: str) -> None:
    assert parse_time_zone(name).key == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "CEST+"]
)
def test_anything_else_is_not_a_time_zone(name: str) -> None:
    with pytest.raises(CalendarError):
        parse_time_zone(name)


@pytest.mark.parametrize(
    ("hours_", "message"),
    [
        ([], "object"),
        ({"monday": [["09:00", "17:00"]]}, "Unknown weekday"),
        ({"mon": [["9:00", "17:00"]]}, "HH:MM"),
        ({"mon": [["09:00", "25:00"]]}, "HH:MM"),
        ({"mon": [["24:00", "24:00"]]}, "24:00"),
        ({"mon": [["17:00", "09:00"]]}, "closes before it opens"),
        ({"mon": [["09:00", "12:00"], ["11:00", "17:00"]]}, "overlap"),
        ({"mon": [["09:00"]]}, "pair"),
        ({"mon": "09:00-17:00"}, "list"),
        ({"mon": []}, "never open"),
        ({"mon": [[9, 17]]}, "HH:MM"),
    ],
)
def test_malformed_weekly_hours_are_refused_with_a_reason(hours_: object, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_weekly_hours(hours_)


def test_weekly_hours_are_normalized() -> None:
    week = parse_weekly_hours({"tue": [["13:00", "17:00"], ["09:00", "13:00"]]})
    assert week[1] == (Window(9 * 60, 17 * 60),)  # sorted, touching windows merged
    assert format_weekly_hours(week)["tue"] == [["09:00", "17:00"]]
    assert format_weekly_hours(week)["mon"] == []


def test_a_calendar_survives_its_json_form(office: Calendar) -> None:
    calendar = build_calendar(
        time_zone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5, holidays=[date(2025, 12, 25)]
    )
    data = calendar_to_json(calendar)
    assert data is not None
    assert data["holidays"] == ["2025-12-25"]
    assert calendar_from_json(data) == calendar
    assert calendar_from_json(None) is None
    assert calendar_to_json(None) is None


def test_is_open(office: Calendar) -> None:
    assert is_open(office, berlin(2025, 1, 6, 9))
    assert not is_open(office, berlin(2025, 1, 6, 17))
    assert not is_open(office, berlin(2025, 1, 11, 12))
    assert is_open(None, berlin(2025, 1, 11, 12))
