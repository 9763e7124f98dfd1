"""SLA configuration for the demo organizations (``make run``'s seed calls it)."""

from datetime import date

from django.db import transaction

from helpdesk.accounts.models import Organization
from helpdesk.sla.models import BusinessCalendar, SlaPolicy
from helpdesk.sla.policies import HolidayInput, sla_calendar_create, sla_policy_create

DEMO_CALENDAR = "Berlin office hours"
# (first response, resolution) in business minutes, and whether the clock is 24/7.
DEMO_TARGETS: dict[str, tuple[int, int, bool]] = {
    "urgent": (30, 4 * 60, True),
    "high": (60, 8 * 60, False),
    "normal": (4 * 60, 3 * 8 * 60, False),
    "low": (8 * 60, 5 * 8 * 60, False),
}


def _holidays(today: date) -> list[HolidayInput]:
    """German public holidays with a fixed date, this year and next."""
    fixed: list[tuple[int, int, str]] = [
        (1, 1, "New Year's Day"),
        (5, 1, "Labour Day"),
        (10, 3, "German Unity Day"),
        (12, 25, "Christmas Day"),
        (12, 26, "Boxing Day"),
    ]
    return [
        HolidayInput(date(year, month, day), name)
        for year in (today.year, today.year + 1)
        for month, day, name in fixed
    ]


def sla_demo_setup(organization: Organization) -> None:
    """A Mon-Fri 9-17 Europe/Berlin calendar with holidays, and a policy per priority (urgent
    runs 24/7). Idempotent: what exists already is left as it is."""
    with transaction.atomic():
        calendar = BusinessCalendar.objects.filter(
            organization=organization, name=DEMO_CALENDAR
        ).first()
        if calendar is None:
            calendar = sla_calendar_create(
                organization=organization,
                name=DEMO_CALENDAR,
                time_zone="Europe/Berlin",
                weekly_hours={
                    day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
                },
                holidays=_holidays(date.today()),
            )
        existing = set(
            SlaPolicy.objects.filter(organization=organization).values_list("priority", flat=True)
        )
        for priority, (first_response, resolution, around_the_clock) in DEMO_TARGETS.items():
            if priority in existing:
                continue
            sla_policy_create(
                organization=organization,
                priority=priority,
                first_response_minutes=first_response,
                resolution_minutes=resolution,
                calendar=None if around_the_clock else calendar,
                warning_share=0.75,
            )
