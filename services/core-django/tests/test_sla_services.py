"""The SLA clocks of tickets as the ticket services move them, with a frozen clock.

The office calendar is Mon-Fri 09:00-17:00 in Europe/Berlin (CET, UTC+1, in January); the
"normal" policy gives 4 business hours to the first response and 16 to the resolution,
warning at 75 %. Tickets are made directly and the hooks called as the ticket services call
them, so these tests depend on nothing else of the ticket domain.
"""

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.test import Client

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.sla.demo import sla_demo_setup
from helpdesk.sla.models import BusinessCalendar, SlaPolicy, TicketSla, TicketSlaEvent
from helpdesk.sla.policies import (
    HolidayInput,
    sla_calendar_create,
    sla_calendar_update,
    sla_policy_create,
)
from helpdesk.sla.selectors import sla_state, sla_timeline
from helpdesk.sla.services import (
    sla_first_response,
    sla_ticket_opened,
    sla_ticket_priority_changed,
    sla_ticket_status_changed,
)
from helpdesk.tickets.models import Ticket
from tests.factories import make_user

BERLIN = ZoneInfo("Europe/Berlin")
_numbers = itertools.count(1000)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def office_calendar(
    org: Organization, holidays: list[HolidayInput] | None = None
) -> BusinessCalendar:
    return sla_calendar_create(
        organization=org,
        name="Office",
        time_zone="Europe/Berlin",
        weekly_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=holidays or [],
    )


@pytest.fixture
def calendar(org: Organization) -> BusinessCalendar:
    return office_calendar(org)


@pytest.fixture
def normal(org: Organization, calendar: BusinessCalendar) -> SlaPolicy:
    return sla_policy_create(
        organization=org,
        priority="normal",
        first_response_minutes=4 * 60,
        resolution_minutes=16 * 60,
        calendar=calendar,
    )


@pytest.fixture
def urgent(org: Organization) -> SlaPolicy:
    """Around the clock: 30 minutes to answer, 4 hours to solve."""
    return sla_policy_create(
        organization=org, priority="urgent", first_response_minutes=30, resolution_minutes=240
    )


def open_ticket(org: Organization, at: datetime, priority: str = "normal") -> Ticket:
    with transaction.atomic():
        ticket = Ticket.objects.create(
            organization=org,
            number=next(_numbers),
            subject="Zip broken",
            description="It jams",
            priority=priority,
            requester=make_user(org, Role.CUSTOMER),
            created_at=at,
            updated_at=at,
        )
        sla_ticket_opened(ticket=ticket, at=at)
    return ticket


def set_status(ticket: Ticket, new: str, at: datetime) -> None:
    with transaction.atomic():
        old, ticket.status = ticket.status, new
        ticket.save(update_fields=["status"])
        sla_ticket_status_changed(ticket=ticket, old=old, new=new, at=at)


def set_priority(ticket: Ticket, new: str, at: datetime) -> None:
    with transaction.atomic():
        ticket.priority = new
        ticket.save(update_fields=["priority"])
        sla_ticket_priority_changed(ticket=ticket, at=at)


def reply(ticket: Ticket, at: datetime) -> None:
    with transaction.atomic():
        sla_first_response(ticket=ticket, at=at)


def sla_of(ticket: Ticket) -> TicketSla:
    return TicketSla.objects.get(ticket=ticket)


def state_at(ticket: Ticket, when: datetime) -> str:
    with time_machine.travel(when, tick=False):
        return sla_state(ticket=Ticket.objects.select_related("sla").get(pk=ticket.pk))


def kinds(ticket: Ticket) -> list[str]:
    return list(
        TicketSlaEvent.objects.filter(ticket=ticket)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


# --- starting -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_due_times_are_computed_in_business_hours_and_stored(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))  # Monday
    sla = sla_of(ticket)
    assert sla.active
    assert sla.first_response_due_at == berlin(2025, 1, 6, 14)
    assert sla.first_response_warn_at == berlin(2025, 1, 6, 13)  # 3 of 4 hours
    # 7 h on Monday, 8 on Tuesday, the 16th on Wednesday morning
    assert sla.resolution_due_at == berlin(2025, 1, 8, 10)
    assert sla.next_breach_at == berlin(2025, 1, 6, 14)
    assert sla.next_alert_at == berlin(2025, 1, 6, 13)
    assert kinds(ticket) == ["started"]


@pytest.mark.django_db
def test_a_ticket_opened_on_saturday_starts_counting_on_monday(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 11, 15))
    assert sla_of(ticket).first_response_due_at == berlin(2025, 1, 13, 13)


@pytest.mark.django_db
def test_due_times_cross_the_spring_dst_change_in_local_hours(
    org: Organization, normal: SlaPolicy
) -> None:
    # Friday 2025-03-28 16:00 CET; 1 hour that day, 3 on Monday the 31st, which is in CEST.
    ticket = open_ticket(org, berlin(2025, 3, 28, 16))
    assert sla_of(ticket).first_response_due_at == utc(2025, 3, 31, 10, 0)  # 12:00 CEST


@pytest.mark.django_db
def test_holidays_of_the_calendar_are_skipped(org: Organization) -> None:
    calendar = office_calendar(org, [HolidayInput(date(2025, 12, 25), "Christmas")])
    sla_policy_create(
        organization=org,
        priority="normal",
        first_response_minutes=4 * 60,
        resolution_minutes=16 * 60,
        calendar=calendar,
    )
    ticket = open_ticket(org, berlin(2025, 12, 24, 15))  # 2 h on the 24th, none on the 25th
    assert sla_of(ticket).first_response_due_at == berlin(2025, 12, 26, 11)


@pytest.mark.django_db
def test_without_a_policy_the_ticket_has_no_sla(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10), priority="low")
    sla = sla_of(ticket)
    assert not sla.active
    assert sla.next_breach_at is None
    assert sla.next_alert_at is None
    assert state_at(ticket, berlin(2025, 2, 1)) == "none"
    assert sla_timeline(ticket=ticket)["metrics"] == {}
    assert kinds(ticket) == []


@pytest.mark.django_db
def test_a_policy_without_calendar_runs_around_the_clock(
    org: Organization, urgent: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 11, 23, 50), priority="urgent")  # Saturday night
    sla = sla_of(ticket)
    assert sla.first_response_due_at == berlin(2025, 1, 12, 0, 20)
    assert sla.resolution_due_at == berlin(2025, 1, 12, 3, 50)


# --- states as time passes ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_state_moves_from_ok_to_warning_to_breached_as_time_passes(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    assert state_at(ticket, berlin(2025, 1, 6, 12, 59)) == "ok"
    assert state_at(ticket, berlin(2025, 1, 6, 13)) == "warning"
    assert state_at(ticket, berlin(2025, 1, 6, 14)) == "warning"  # due is still on time
    assert state_at(ticket, berlin(2025, 1, 6, 14, 0, 1)) == "breached"


@pytest.mark.django_db
def test_a_first_response_in_time_is_met(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11, 30))
    sla = sla_of(ticket)
    assert sla.first_responded_at == berlin(2025, 1, 6, 11, 30)
    assert sla.first_response_consumed == timedelta(hours=1, minutes=30)
    assert sla.first_response_breached_at is None
    assert sla.next_breach_at == sla.resolution_due_at == berlin(2025, 1, 8, 10)
    with time_machine.travel(berlin(2025, 1, 6, 16), tick=False):
        timeline = sla_timeline(ticket=ticket)
    assert timeline["state"] == "ok"
    assert timeline["metrics"]["first_response"]["state"] == "met"
    event = TicketSlaEvent.objects.get(ticket=ticket, kind="first_response")
    assert event.detail["outcome"] == "met"
    assert event.detail["business_seconds"] == 5400


@pytest.mark.django_db
def test_a_reply_exactly_at_the_due_time_is_in_time(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 14))
    assert sla_of(ticket).first_response_breached_at is None


@pytest.mark.django_db
def test_a_late_first_response_is_a_breach_at_the_due_time(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 7, 10))  # the next morning: 8 business hours
    sla = sla_of(ticket)
    assert sla.first_response_breached_at == berlin(2025, 1, 6, 14)
    assert not sla.first_response_breach_sent  # the scheduler announces it
    assert sla.next_alert_at == berlin(2025, 1, 6, 14)
    assert sla.first_response_consumed == timedelta(hours=8)
    assert state_at(ticket, berlin(2025, 1, 7, 10)) == "breached"


@pytest.mark.django_db
def test_only_the_first_reply_counts(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11))
    reply(ticket, berlin(2025, 1, 9, 11))
    assert sla_of(ticket).first_responded_at == berlin(2025, 1, 6, 11)
    assert kinds(ticket) == ["started", "first_response"]


# --- pauses ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pending_pauses_the_clocks_and_resuming_pushes_the_due_times(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "pending", berlin(2025, 1, 6, 11))  # 1 business hour used
    sla = sla_of(ticket)
    assert sla.paused_since == berlin(2025, 1, 6, 11)
    assert sla.first_response_due_at is None
    assert sla.resolution_due_at is None
    assert sla.next_breach_at is None
    assert sla.next_alert_at is None
    assert sla.first_response_consumed == timedelta(hours=1)
    assert state_at(ticket, berlin(2025, 1, 20)) == "paused"  # however long it waits

    set_status(ticket, "open", berlin(2025, 1, 7, 11))  # paused for 8 business hours
    sla = sla_of(ticket)
    assert sla.paused_since is None
    assert sla.first_response_due_at == berlin(2025, 1, 7, 14)  # 14:00 Monday + 8 h
    assert sla.resolution_due_at == berlin(2025, 1, 9, 10)  # 10:00 Wednesday + 8 h
    resumed = TicketSlaEvent.objects.get(ticket=ticket, kind="resumed")
    assert resumed.detail["paused_business_seconds"] == 8 * 3600
    assert (
        resumed.detail["first_response_due_at"]
        == berlin(2025, 1, 7, 14).astimezone(UTC).isoformat()
    )
    assert kinds(ticket) == ["started", "paused", "resumed"]


@pytest.mark.django_db
def test_on_hold_pauses_like_pending_and_moving_between_them_changes_nothing(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "on_hold", berlin(2025, 1, 6, 11))
    set_status(ticket, "pending", berlin(2025, 1, 6, 15))
    set_status(ticket, "open", berlin(2025, 1, 6, 16))
    sla = sla_of(ticket)
    assert sla.first_response_consumed == timedelta(hours=1)
    assert sla.first_response_due_at == berlin(2025, 1, 7, 11)  # 1 h Monday, 2 h Tuesday
    assert kinds(ticket) == ["started", "paused", "resumed"]


@pytest.mark.django_db
def test_a_pause_over_the_dst_change_and_a_holiday_counts_only_business_hours(
    org: Organization,
) -> None:
    calendar = office_calendar(org, [HolidayInput(date(2025, 3, 31), "Office closed")])
    sla_policy_create(
        organization=org,
        priority="normal",
        first_response_minutes=4 * 60,
        resolution_minutes=16 * 60,
        calendar=calendar,
    )
    ticket = open_ticket(org, berlin(2025, 3, 28, 9))  # Friday, CET
    set_status(ticket, "pending", berlin(2025, 3, 28, 10))  # 1 h used
    set_status(ticket, "open", berlin(2025, 4, 1, 10))  # Tuesday, CEST; Monday was closed
    sla = sla_of(ticket)
    # 3 h left from Tuesday 10:00 CEST
    assert sla.first_response_due_at == berlin(2025, 4, 1, 13)
    resumed = TicketSlaEvent.objects.get(ticket=ticket, kind="resumed")
    assert resumed.detail["paused_business_seconds"] == 8 * 3600  # Fri 10-17, Tue 9-10


@pytest.mark.django_db
def test_a_breach_before_the_pause_stays_a_breach(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "pending", berlin(2025, 1, 6, 16))  # 6 h used of 4
    sla = sla_of(ticket)
    assert sla.first_response_breached_at == berlin(2025, 1, 6, 14)
    assert state_at(ticket, berlin(2025, 1, 6, 16, 30)) == "breached"
    set_status(ticket, "open", berlin(2025, 1, 7, 9))
    sla = sla_of(ticket)
    assert sla.first_response_due_at == berlin(2025, 1, 6, 14)  # when it was breached
    assert sla.next_breach_at == berlin(2025, 1, 6, 14)  # the most overdue sorts first


# --- solving and reopening ------------------------------------------------------------------


@pytest.mark.django_db
def test_solving_meets_the_resolution_and_stops_the_clocks(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11))
    set_status(ticket, "solved", berlin(2025, 1, 7, 12))
    sla = sla_of(ticket)
    assert sla.resolved_at == berlin(2025, 1, 7, 12)
    assert sla.resolution_consumed == timedelta(hours=10)
    assert sla.next_breach_at is None
    assert sla.next_alert_at is None
    assert state_at(ticket, berlin(2025, 3, 1)) == "met"
    assert TicketSlaEvent.objects.get(ticket=ticket, kind="resolved").detail["outcome"] == "met"


@pytest.mark.django_db
def test_solving_late_is_a_resolution_breach(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11))
    set_status(ticket, "solved", berlin(2025, 1, 9, 12))
    sla = sla_of(ticket)
    assert sla.resolution_breached_at == berlin(2025, 1, 8, 10)
    assert state_at(ticket, berlin(2025, 3, 1)) == "breached"
    resolved = TicketSlaEvent.objects.get(ticket=ticket, kind="resolved")
    assert resolved.detail["outcome"] == "breached"


@pytest.mark.django_db
def test_reopening_a_solved_ticket_runs_the_clocks_on_from_where_they_stopped(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11))
    set_status(ticket, "solved", berlin(2025, 1, 6, 12))  # 2 h of 16 used
    set_status(ticket, "open", berlin(2025, 1, 10, 16))  # reopened Friday 16:00
    sla = sla_of(ticket)
    assert sla.resolved_at is None
    assert sla.resolution_consumed == timedelta(hours=2)
    # 14 h left: 1 on Friday, 8 on Monday, 5 on Tuesday
    assert sla.resolution_due_at == berlin(2025, 1, 14, 14)
    assert sla.first_response_running_since is None  # answered already
    assert kinds(ticket) == ["started", "first_response", "resolved", "reopened"]
    assert state_at(ticket, berlin(2025, 1, 13, 9)) == "ok"


@pytest.mark.django_db
def test_a_ticket_solved_without_a_reply_stops_the_first_response_clock(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "solved", berlin(2025, 1, 6, 11))
    set_status(ticket, "closed", berlin(2025, 1, 7, 11))
    with time_machine.travel(berlin(2025, 1, 20), tick=False):
        timeline = sla_timeline(ticket=ticket)
    assert timeline["state"] == "met"
    assert timeline["metrics"]["first_response"]["state"] == "stopped"
    assert timeline["metrics"]["resolution"]["state"] == "met"


# --- priority changes -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_priority_change_applies_the_new_targets_to_the_time_already_used(
    org: Organization, normal: SlaPolicy, urgent: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_priority(ticket, "urgent", berlin(2025, 1, 6, 10, 20))  # 20 of 30 minutes used
    sla = sla_of(ticket)
    assert (sla.priority, sla.first_response_minutes, sla.resolution_minutes) == ("urgent", 30, 240)
    assert sla.calendar_snapshot is None  # urgent runs 24/7
    assert sla.first_response_due_at == berlin(2025, 1, 6, 10, 30)
    assert sla.resolution_due_at == berlin(2025, 1, 6, 14, 0)  # 220 minutes left
    changed = TicketSlaEvent.objects.get(ticket=ticket, kind="policy_changed")
    assert changed.detail["previous_priority"] == "normal"
    assert changed.detail["priority"] == "urgent"


@pytest.mark.django_db
def test_escalating_past_the_new_target_breaches_at_once(
    org: Organization, normal: SlaPolicy, urgent: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_priority(ticket, "urgent", berlin(2025, 1, 6, 11))  # 60 minutes used of 30
    sla = sla_of(ticket)
    assert sla.first_response_due_at == berlin(2025, 1, 6, 11)
    assert sla.first_response_warn_at == berlin(2025, 1, 6, 11)
    assert state_at(ticket, berlin(2025, 1, 6, 11, 0, 1)) == "breached"


@pytest.mark.django_db
def test_relaxing_the_priority_forgets_a_warning_that_no_longer_applies(
    org: Organization, calendar: BusinessCalendar, normal: SlaPolicy
) -> None:
    sla_policy_create(
        organization=org,
        priority="low",
        first_response_minutes=16 * 60,
        resolution_minutes=40 * 60,
        calendar=calendar,
    )
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    TicketSla.objects.filter(pk=ticket.pk).update(first_response_warned_at=berlin(2025, 1, 6, 13))
    set_priority(ticket, "low", berlin(2025, 1, 6, 13, 30))
    sla = sla_of(ticket)
    assert sla.first_response_warned_at is None
    assert sla.first_response_warn_at == berlin(2025, 1, 7, 14)  # 12 h into 16
    assert sla.next_alert_at == sla.first_response_warn_at


@pytest.mark.django_db
def test_a_priority_without_policy_deactivates_and_one_with_a_policy_starts_it(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_priority(ticket, "high", berlin(2025, 1, 6, 11))  # no policy for high
    sla = sla_of(ticket)
    assert not sla.active
    assert sla.next_breach_at is None
    assert state_at(ticket, berlin(2025, 1, 6, 12)) == "none"
    reply(ticket, berlin(2025, 1, 6, 12))  # recorded even without an SLA
    set_priority(ticket, "normal", berlin(2025, 1, 6, 13))
    sla = sla_of(ticket)
    assert sla.active
    assert sla.first_response_running_since is None  # the reply came before
    assert sla.resolution_consumed == timedelta(hours=1)  # the 10-11 stretch under "normal"
    assert sla.resolution_due_at == berlin(2025, 1, 8, 12)  # 15 h left from 13:00
    assert kinds(ticket) == ["started", "policy_changed", "started"]


@pytest.mark.django_db
def test_a_running_ticket_keeps_its_calendar_until_its_policy_is_applied_again(
    org: Organization, calendar: BusinessCalendar, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    sla_calendar_update(
        calendar=calendar, changes={"holidays": [HolidayInput(date(2025, 1, 7), "Closed")]}
    )
    assert sla_of(ticket).resolution_due_at == berlin(2025, 1, 8, 10)  # the snapshot
    set_priority(ticket, "normal", berlin(2025, 1, 6, 11))  # same priority: re-applied
    assert sla_of(ticket).resolution_due_at == berlin(2025, 1, 9, 10)  # Tuesday is closed now


# --- tickets from before SLAs ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_ticket_without_an_sla_row_gets_one_on_its_next_change(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = Ticket.objects.create(
        organization=org,
        number=next(_numbers),
        subject="Old",
        description="From before",
        requester=make_user(org, Role.CUSTOMER),
    )
    assert state_at(ticket, berlin(2025, 1, 6, 10)) == "none"
    set_status(ticket, "open", berlin(2025, 1, 6, 10))
    assert sla_of(ticket).first_response_due_at == berlin(2025, 1, 6, 14)
    reply(ticket, berlin(2025, 1, 6, 11))
    assert sla_of(ticket).first_responded_at == berlin(2025, 1, 6, 11)


@pytest.mark.django_db
def test_first_response_on_a_ticket_without_row_creates_it(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = Ticket.objects.create(
        organization=org,
        number=next(_numbers),
        subject="Old",
        description="From before",
        requester=make_user(org, Role.CUSTOMER),
    )
    reply(ticket, berlin(2025, 1, 6, 11))
    sla = sla_of(ticket)
    assert sla.first_responded_at == berlin(2025, 1, 6, 11)
    assert sla.first_response_running_since is None


# --- the timeline ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_timeline_explains_a_paused_ticket(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "pending", berlin(2025, 1, 6, 12, 30))
    with time_machine.travel(berlin(2025, 1, 7, 12), tick=False):
        timeline = sla_timeline(ticket=ticket)
    assert timeline["state"] == "paused"
    assert timeline["policy"]["priority"] == "normal"
    assert timeline["policy"]["calendar"]["time_zone"] == "Europe/Berlin"
    first = timeline["metrics"]["first_response"]
    assert first["state"] == "paused"
    assert first["due_at"] is None
    assert first["elapsed_business_seconds"] == 9000
    assert first["remaining_business_seconds"] == 5400
    assert first["elapsed_share"] == 0.625
    assert "Paused since" in first["explanation"]
    assert "2 h 30 min of 4 h" in first["explanation"]
    assert [e["kind"] for e in timeline["events"]] == ["started", "paused"]
    assert timeline["events"][1]["detail"]["status"] == "pending"


@pytest.mark.django_db
def test_the_timeline_of_a_running_ticket_counts_up_to_now(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    with time_machine.travel(berlin(2025, 1, 6, 13, 30), tick=False):
        timeline = sla_timeline(ticket=ticket)
    first = timeline["metrics"]["first_response"]
    assert timeline["state"] == "warning"
    assert first["state"] == "warning"
    assert first["elapsed_business_seconds"] == 3.5 * 3600
    assert first["due_at"] == berlin(2025, 1, 6, 14).astimezone(UTC).isoformat()
    assert timeline["next_breach_at"] == first["due_at"]


# --- the demo -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_demo_setup_gives_every_priority_a_policy_and_is_idempotent(org: Organization) -> None:
    sla_demo_setup(org)
    sla_demo_setup(org)
    [calendar] = BusinessCalendar.objects.filter(organization=org)
    assert calendar.time_zone == "Europe/Berlin"
    assert calendar.holidays.count() >= 2
    policies = {p.priority: p for p in SlaPolicy.objects.filter(organization=org)}
    assert set(policies) == {"low", "normal", "high", "urgent"}
    assert policies["urgent"].calendar is None  # urgent runs around the clock
    assert policies["normal"].calendar == calendar
    ticket = open_ticket(org, berlin(2025, 1, 6, 10), priority="high")
    assert sla_of(ticket).first_response_due_at == berlin(2025, 1, 6, 11)


@pytest.mark.django_db
def test_the_admin_pages_open(org: Organization, normal: SlaPolicy) -> None:
    open_ticket(org, berlin(2025, 1, 6, 10))
    superuser = User.objects.create_superuser("root@example.com", "correct horse battery")
    client = Client()
    client.force_login(superuser)
    for model in ("businesscalendar", "slapolicy", "ticketsla", "ticketslaevent"):
        assert client.get(f"/admin/sla/{model}/", secure=True).status_code == 200, model
    calendar = BusinessCalendar.objects.get(organization=org)
    page = client.get(f"/admin/sla/businesscalendar/{calendar.pk}/change/", secure=True)
    assert page.status_code == 200
