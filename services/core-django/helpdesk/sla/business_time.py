"""Business-time arithmetic: how much working time lies between two instants, and when a
given amount of working time runs out. Pure: no ORM, no clock, aware datetimes in and out.

A calendar is a set of weekly opening windows in wall-clock time of one IANA zone, minus
holidays (local dates on which the whole day is closed). Business time is the *real* time that
passes while a window is open, so an overnight window on the night the clocks go forward is an
hour shorter, and one on the night they go back an hour longer.

Wall-clock edges that do not exist or exist twice follow one rule, chosen so that windows stay
contiguous and every result is an exact instant:

- an opening or closing time that falls into a spring-forward gap means the moment the clocks
  jump (a window 02:30-04:00 on that night opens at 03:00, the first wall time after the gap);
- one that occurs twice on the autumn night means its first occurrence.

No calendar (``None``) means 24/7: business time is plain elapsed time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MAX_WINDOWS_PER_DAY = 12
# A calendar whose next open minute is further away than this is treated as broken rather than
# scanned forever (e.g. a holiday entered for every day of the year).
MAX_SCAN_DAYS = 3 * 366

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class CalendarError(ValueError):
    """A calendar that cannot be used: bad zone, malformed hours, or never open."""


@dataclass(frozen=True, slots=True)
class Window:
    """One opening window of a weekday, in minutes after local midnight: [start, end)."""

    start: int
    end: int


Week = tuple[tuple[Window, ...], ...]  # seven entries, Monday first


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    week: Week
    holidays: frozenset[date] = frozenset()

    def windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.holidays:
            return ()
        return self.week[day.weekday()]


# --- parsing and validation ------------------------------------------------------------------


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; CalendarError for anything else (including "local")."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise CalendarError(f"{name!r} is not an IANA time zone such as 'Europe/Berlin'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{name!r} is not an IANA time zone such as 'Europe/Berlin'.") from None


def _minutes(text: object, *, is_end: bool) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(f"{text!r} is not a time written HH:MM.")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not is_end):
        raise CalendarError(f"{text!r}: only a closing time may be 24:00, and nothing later.")
    return minutes


def parse_weekly_hours(raw: object) -> Week:
    """Validate weekly hours written ``{"mon": [["09:00", "17:00"]], ...}``.

    Days left out are closed. Windows of a day must not overlap (touching ones are merged);
    a night shift is two windows: ``"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]``.
    The week must have at least one open minute.
    """
    if not isinstance(raw, Mapping):
        raise CalendarError('Weekly hours are an object such as {"mon": [["09:00", "17:00"]]}.')
    unknown = sorted(str(key) for key in raw if key not in WEEKDAYS)
    if unknown:
        raise CalendarError(f"Unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}.")
    week: list[tuple[Window, ...]] = []
    for day in WEEKDAYS:
        intervals = raw.get(day, [])
        if not isinstance(intervals, list) or len(intervals) > MAX_WINDOWS_PER_DAY:
            raise CalendarError(
                f"{day}: a list of at most {MAX_WINDOWS_PER_DAY} [opening, closing] pairs."
            )
        windows: list[Window] = []
        for interval in intervals:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise CalendarError(f"{day}: each window is a pair such as ['09:00', '17:00'].")
            start = _minutes(interval[0], is_end=False)
            end = _minutes(interval[1], is_end=True)
            if end <= start:
                raise CalendarError(
                    f"{day}: {interval[0]}-{interval[1]} closes before it opens; split a window "
                    "that runs past midnight into two days."
                )
            windows.append(Window(start, end))
        windows.sort(key=lambda w: w.start)
        merged: list[Window] = []
        for window in windows:
            if merged and window.start < merged[-1].end:
                raise CalendarError(f"{day}: windows overlap.")
            if merged and window.start == merged[-1].end:
                merged[-1] = Window(merged[-1].start, window.end)
            else:
                merged.append(window)
        week.append(tuple(merged))
    if not any(week):
        raise CalendarError("The calendar is never open: give at least one window.")
    return tuple(week)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_weekly_hours(week: Week) -> dict[str, list[list[str]]]:
    """The canonical JSON form of ``week`` (every weekday present, windows sorted, merged)."""
    return {
        day: [[_hhmm(w.start), _hhmm(w.end)] for w in windows]
        for day, windows in zip(WEEKDAYS, week, strict=True)
    }


def calendar_to_json(calendar: Calendar | None) -> dict[str, Any] | None:
    if calendar is None:
        return None
    return {
        "time_zone": calendar.zone.key,
        "weekly_hours": format_weekly_hours(calendar.week),
        "holidays": sorted(day.isoformat() for day in calendar.holidays),
    }


@lru_cache(maxsize=256)
def _calendar_cached(time_zone: str, weekly_hours: str, holidays: tuple[str, ...]) -> Calendar:
    return Calendar(
        zone=parse_time_zone(time_zone),
        week=parse_weekly_hours(json.loads(weekly_hours)),
        holidays=frozenset(date.fromisoformat(day) for day in holidays),
    )


def calendar_from_json(data: Mapping[str, Any] | None) -> Calendar | None:
    """The calendar that ``calendar_to_json`` wrote (cached: the scheduler reads it a lot)."""
    if data is None:
        return None
    return _calendar_cached(
        str(data["time_zone"]),
        json.dumps(data["weekly_hours"], sort_keys=True),
        tuple(sorted(str(day) for day in data.get("holidays", ()))),
    )


def build_calendar(
    *, time_zone: str, weekly_hours: object, holidays: Iterable[date] = ()
) -> Calendar:
    return Calendar(
        zone=parse_time_zone(time_zone),
        week=parse_weekly_hours(weekly_hours),
        holidays=frozenset(holidays),
    )


# --- wall clock to instants ------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """``value`` in UTC. Python compares and subtracts datetimes of one zone by their wall
    clocks (a Berlin day in March is "24 hours"), so the arithmetic is done in UTC only."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} has no time zone; business time needs aware datetimes.")
    return value.astimezone(UTC)


def _local_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """The instant at which the wall clock of ``zone`` shows ``naive`` (see the module's rule)."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # it exists; if it exists twice, this is the first time
    # A gap: fold=1 reads it with the offset after the jump (an instant before the jump), fold=0
    # with the offset before it (an instant after). The jump lies in between, on a whole second.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    after = high.astimezone(zone).utcoffset()
    while (high - low) > timedelta(seconds=1):
        middle = low + timedelta(seconds=((high - low) // timedelta(seconds=1)) // 2)
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return _local_to_utc(datetime.combine(day, time()) + timedelta(minutes=minute), zone)


def open_windows(
    calendar: Calendar, start: datetime, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's open windows as UTC instants, in order, from the one open at (or next
    after) ``start``; with ``until``, stopping before windows that open at or after it."""
    start = _utc(start)
    until = _utc(until) if until is not None else None
    day = start.astimezone(calendar.zone).date()
    scanned = 0
    while True:
        for window in calendar.windows_on(day):
            opens = _instant(day, window.start, calendar.zone)
            if until is not None and opens >= until:
                return
            closes = _instant(day, window.end, calendar.zone)
            if closes > start and closes > opens:
                scanned = 0
                yield opens, closes
        day += timedelta(days=1)
        scanned += 1
        if until is not None and _instant(day, 0, calendar.zone) >= until:
            return
        if scanned > MAX_SCAN_DAYS:
            raise CalendarError(f"The calendar has no open hours for {MAX_SCAN_DAYS} days.")


# --- the arithmetic --------------------------------------------------------------------------


def add_business_time(start: datetime, amount: timedelta, calendar: Calendar | None) -> datetime:
    """The instant at which ``amount`` of business time, counted from ``start``, has passed.

    Ending exactly at a closing time gives the closing time (a target of 8 hours from Monday
    09:00 is due Monday 17:00, not Tuesday 09:00); adding nothing gives ``start`` itself, open
    or not. The result is in UTC.
    """
    start = _utc(start)
    if amount < timedelta(0):
        raise ValueError("Business time to add cannot be negative.")
    if calendar is None or amount == timedelta(0):
        return start + amount
    remaining = amount
    for opens, closes in open_windows(calendar, start):
        begin = max(opens, start)
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("open_windows never ends without a bound")  # pragma: no cover


def business_time_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Business time in [start, end); zero when ``end`` is not after ``start``."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for opens, closes in open_windows(calendar, start, until=end):
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def is_open(calendar: Calendar | None, instant: datetime) -> bool:
    """Whether business time is running at ``instant``."""
    if calendar is None:
        return True
    later = instant + timedelta(microseconds=1)
    return business_time_between(instant, later, calendar) > timedelta(0)
