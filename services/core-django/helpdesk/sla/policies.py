"""Writes of SLA configuration: business calendars (with their holidays) and policies.

Changes apply to tickets whose clocks start, or whose priority changes, afterwards: a running
ticket keeps the snapshot it started with (see ``helpdesk.sla.models``).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.accounts.models import Organization
from helpdesk.sla.business_time import (
    CalendarError,
    format_weekly_hours,
    parse_time_zone,
    parse_weekly_hours,
)
from helpdesk.sla.models import MAX_TARGET_MINUTES, BusinessCalendar, Holiday, SlaPolicy
from helpdesk.tickets.models import Priority


class SlaConfigError(ValueError):
    """A configuration that cannot be saved, and the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SlaInUseError(Exception):
    """A calendar that policies still count in cannot be deleted."""


@dataclass(frozen=True)
class HolidayInput:
    date: date
    name: str = ""


def _checked_zone(time_zone: str) -> str:
    try:
        return parse_time_zone(time_zone).key
    except CalendarError as exc:
        raise SlaConfigError("time_zone", str(exc)) from None


def _checked_hours(weekly_hours: object) -> dict[str, list[list[str]]]:
    try:
        return format_weekly_hours(parse_weekly_hours(weekly_hours))
    except CalendarError as exc:
        raise SlaConfigError("weekly_hours", str(exc)) from None


def _checked_holidays(holidays: Iterable[HolidayInput]) -> list[HolidayInput]:
    checked = sorted(holidays, key=lambda h: h.date)
    for earlier, later in pairwise(checked):
        if earlier.date == later.date:
            raise SlaConfigError("holidays", f"{later.date} is listed twice.")
    return checked


def _name_taken(*, organization_id: int, name: str, exclude_id: int | None = None) -> bool:
    taken = BusinessCalendar.objects.filter(organization_id=organization_id, name=name)
    return taken.exclude(pk=exclude_id).exists() if exclude_id else taken.exists()


def _replace_holidays(calendar: BusinessCalendar, holidays: list[HolidayInput]) -> None:
    calendar.holidays.all().delete()
    Holiday.objects.bulk_create(
        Holiday(calendar=calendar, date=h.date, name=h.name) for h in holidays
    )


def sla_calendar_create(
    *,
    organization: Organization,
    name: str,
    time_zone: str,
    weekly_hours: object,
    holidays: Iterable[HolidayInput] = (),
) -> BusinessCalendar:
    zone, hours, days = (
        _checked_zone(time_zone),
        _checked_hours(weekly_hours),
        _checked_holidays(holidays),
    )
    if _name_taken(organization_id=organization.pk, name=name):
        raise SlaConfigError("name", "A calendar of this name exists.")
    try:
        with transaction.atomic():
            calendar = BusinessCalendar.objects.create(
                organization=organization, name=name, time_zone=zone, weekly_hours=hours
            )
            _replace_holidays(calendar, days)
    except IntegrityError:
        raise SlaConfigError("name", "A calendar of this name exists.") from None
    return calendar


def sla_calendar_update(
    *, calendar: BusinessCalendar, changes: Mapping[str, Any]
) -> BusinessCalendar:
    """Change ``name``, ``time_zone``, ``weekly_hours``; ``holidays`` replaces the whole list."""
    if "name" in changes and _name_taken(
        organization_id=calendar.organization_id, name=changes["name"], exclude_id=calendar.pk
    ):
        raise SlaConfigError("name", "A calendar of this name exists.")
    if "time_zone" in changes:
        calendar.time_zone = _checked_zone(changes["time_zone"])
    if "weekly_hours" in changes:
        calendar.weekly_hours = _checked_hours(changes["weekly_hours"])
    if "name" in changes:
        calendar.name = changes["name"]
    calendar.updated_at = timezone.now()
    try:
        with transaction.atomic():
            calendar.save()
            if "holidays" in changes:
                _replace_holidays(calendar, _checked_holidays(changes["holidays"]))
    except IntegrityError:
        raise SlaConfigError("name", "A calendar of this name exists.") from None
    return calendar


def sla_calendar_delete(*, calendar: BusinessCalendar) -> None:
    if calendar.policies.exists():
        raise SlaInUseError("Policies count in this calendar; give them another one first.")
    calendar.delete()


POLICY_FIELDS = frozenset(
    {"priority", "first_response_minutes", "resolution_minutes", "calendar", "warning_share"}
)


def _checked_policy_fields(*, organization_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"Not policy fields: {sorted(unknown)}")
    for field in ("first_response_minutes", "resolution_minutes"):
        if field in values and not 1 <= int(values[field]) <= MAX_TARGET_MINUTES:
            raise SlaConfigError(field, f"Between 1 and {MAX_TARGET_MINUTES} minutes.")
    if "warning_share" in values and not 0.01 <= float(values["warning_share"]) <= 0.99:
        raise SlaConfigError("warning_share", "A share between 0.01 and 0.99 of the target.")
    if "priority" in values and values["priority"] not in Priority.values:
        raise SlaConfigError("priority", f"One of {', '.join(Priority.values)}.")
    calendar = values.get("calendar")
    if calendar is not None and calendar.organization_id != organization_id:
        raise SlaConfigError("calendar_id", "No such calendar.")
    return dict(values)


def sla_policy_create(
    *,
    organization: Organization,
    priority: str,
    first_response_minutes: int,
    resolution_minutes: int,
    calendar: BusinessCalendar | None = None,
    warning_share: float = 0.75,
) -> SlaPolicy:
    values = _checked_policy_fields(
        organization_id=organization.pk,
        values={
            "priority": priority,
            "first_response_minutes": first_response_minutes,
            "resolution_minutes": resolution_minutes,
            "calendar": calendar,
            "warning_share": warning_share,
        },
    )
    if SlaPolicy.objects.filter(organization=organization, priority=priority).exists():
        raise SlaConfigError("priority", f"A policy for {priority} tickets exists; change it.")
    try:
        with transaction.atomic():
            return SlaPolicy.objects.create(organization=organization, **values)
    except IntegrityError:
        raise SlaConfigError("priority", f"A policy for {priority} tickets exists.") from None


def sla_policy_update(*, policy: SlaPolicy, changes: Mapping[str, Any]) -> SlaPolicy:
    """Change any of the create fields; ``calendar`` None makes it 24/7."""
    values = _checked_policy_fields(organization_id=policy.organization_id, values=changes)
    priority = values.get("priority", policy.priority)
    if (
        priority != policy.priority
        and SlaPolicy.objects.filter(organization_id=policy.organization_id, priority=priority)
        .exclude(pk=policy.pk)
        .exists()
    ):
        raise SlaConfigError("priority", f"A policy for {priority} tickets exists.")
    for field, value in values.items():
        setattr(policy, field, value)
    policy.updated_at = timezone.now()
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise SlaConfigError("priority", f"A policy for {priority} tickets exists.") from None
    return policy


def sla_policy_delete(*, policy: SlaPolicy) -> None:
    """Tickets already running under it keep their snapshot; new ones get no SLA."""
    policy.delete()
