"""SLA filters and ordering for ticket lists say in SQL what the ticket's own state says."""

from typing import Any

import pytest
import time_machine
from django.db.models import QuerySet

from helpdesk.accounts.models import Organization, Role
from helpdesk.sla.clock import state_of
from helpdesk.sla.models import SlaPolicy, TicketSla
from helpdesk.sla.scheduler import SlaScheduler
from helpdesk.sla.selectors import (
    SLA_STATES,
    sla_row_annotations,
    sla_state,
    tickets_annotate_sla,
    tickets_by_time_to_breach,
    tickets_with_sla_state,
)
from helpdesk.tickets.models import Ticket
from tests.factories import make_user
from tests.test_sla_services import berlin, calendar, normal, open_ticket, reply, set_status

__all__ = ["calendar", "normal"]  # fixtures, imported for pytest

NOW = berlin(2025, 1, 6, 13, 30)  # Monday


@pytest.fixture
def tickets(org: Organization, normal: SlaPolicy) -> dict[str, Ticket]:
    """One ticket in each state at NOW (and a few twins reached another way)."""
    made = {
        "ok": open_ticket(org, berlin(2025, 1, 6, 12)),
        "warning": open_ticket(org, berlin(2025, 1, 6, 10)),
        "breached": open_ticket(org, berlin(2025, 1, 3, 10)),
        "breached_late_reply": open_ticket(org, berlin(2025, 1, 3, 10)),
        "breached_announced": open_ticket(org, berlin(2025, 1, 2, 10)),
        "paused": open_ticket(org, berlin(2025, 1, 6, 12)),
        "paused_on_hold": open_ticket(org, berlin(2025, 1, 6, 12)),
        "met": open_ticket(org, berlin(2025, 1, 6, 9)),
        "met_without_reply": open_ticket(org, berlin(2025, 1, 6, 9)),
        "none": open_ticket(org, berlin(2025, 1, 6, 9), priority="low"),
    }
    reply(made["breached_late_reply"], berlin(2025, 1, 6, 9, 30))
    SlaScheduler().run_once(berlin(2025, 1, 3, 12))  # announces the one from the 2nd
    set_status(made["paused"], "pending", berlin(2025, 1, 6, 12, 30))
    set_status(made["paused_on_hold"], "on_hold", berlin(2025, 1, 6, 12, 30))
    reply(made["met"], berlin(2025, 1, 6, 9, 30))
    set_status(made["met"], "solved", berlin(2025, 1, 6, 10))
    set_status(made["met_without_reply"], "solved", berlin(2025, 1, 6, 10))
    made["none_without_row"] = Ticket.objects.create(
        organization=org,
        number=9999,
        subject="From before SLAs",
        description="d",
        requester=make_user(org, Role.CUSTOMER),
    )
    return made


def _all(org: Organization) -> QuerySet[Ticket]:
    return Ticket.objects.filter(organization=org)


@pytest.mark.django_db
def test_each_ticket_is_in_the_state_its_name_says(tickets: dict[str, Ticket]) -> None:
    with time_machine.travel(NOW, tick=False):
        states = {
            name: sla_state(ticket=Ticket.objects.select_related("sla").get(pk=t.pk))
            for name, t in tickets.items()
        }
    assert states == {name: name.split("_")[0] for name in tickets}
    announced = TicketSla.objects.get(pk=tickets["breached_announced"].pk)
    assert announced.first_response_breach_sent


@pytest.mark.django_db
@pytest.mark.parametrize("state", SLA_STATES)
def test_filtering_by_state_matches_the_state_of_each_ticket(
    org: Organization, tickets: dict[str, Ticket], state: str
) -> None:
    found = set(tickets_with_sla_state(_all(org), state, now=NOW).values_list("pk", flat=True))
    expected = {t.pk for name, t in tickets.items() if name.split("_")[0] == state}
    assert found == expected
    assert found  # every state is covered by the fixture


@pytest.mark.django_db
def test_the_sql_state_agrees_with_the_python_state(
    org: Organization, tickets: dict[str, Ticket]
) -> None:
    for now in (NOW, berlin(2025, 1, 6, 13, 59), berlin(2025, 1, 6, 14, 1), berlin(2025, 2, 1)):
        annotated = {
            row.pk: row.sla_state  # type: ignore[attr-defined]
            for row in tickets_annotate_sla(tickets=_all(org), now=now).select_related("sla")
        }
        for ticket in _all(org).select_related("sla"):
            sla = TicketSla.objects.filter(pk=ticket.pk).first()
            assert annotated[ticket.pk] == state_of(sla, now), (ticket.subject, now)


@pytest.mark.django_db
def test_several_states_at_once(org: Organization, tickets: dict[str, Ticket]) -> None:
    found = set(
        tickets_with_sla_state(_all(org), ["warning", "breached"], now=NOW).values_list(
            "pk", flat=True
        )
    )
    expected = {
        tickets[name].pk
        for name in ("warning", "breached", "breached_late_reply", "breached_announced")
    }
    assert found == expected


@pytest.mark.django_db
def test_an_unknown_state_is_refused(org: Organization) -> None:
    with pytest.raises(ValueError, match="Unknown SLA state"):
        tickets_with_sla_state(_all(org), "late")


@pytest.mark.django_db
def test_lists_sort_by_time_to_breach_overdue_first_and_stopped_clocks_last(
    org: Organization, tickets: dict[str, Ticket]
) -> None:
    ordered = [t.pk for t in tickets_by_time_to_breach(tickets=_all(org))]
    # first-response due on the 2nd and the 3rd, then Monday 14:00 and 16:00; the late reply's
    # resolution is due on Tuesday
    running = [
        tickets[name].pk
        for name in ("breached_announced", "breached", "warning", "ok", "breached_late_reply")
    ]
    assert ordered[: len(running)] == running
    assert set(ordered[len(running) :]) == {t.pk for t in tickets.values()} - set(running)


@pytest.mark.django_db
def test_annotations_are_there_in_value_rows(org: Organization, tickets: dict[str, Ticket]) -> None:
    rows = _all(org).values("pk", **sla_row_annotations(now=NOW))
    by_pk: dict[int, dict[str, Any]] = {row["pk"]: dict(row) for row in rows}
    warning = by_pk[tickets["warning"].pk]
    assert warning["sla_state"] == "warning"
    assert warning["sla_next_breach_at"] == berlin(2025, 1, 6, 14)
    assert by_pk[tickets["none_without_row"].pk]["sla_next_breach_at"] is None


@pytest.mark.django_db
def test_the_row_state_agrees_with_the_sql_state(
    org: Organization, tickets: dict[str, Ticket]
) -> None:
    from helpdesk.sla.selectors import SLA_ROW_COLUMNS, sla_state_of_row

    for now in (NOW, berlin(2025, 1, 6, 13, 59), berlin(2025, 1, 6, 14, 1), berlin(2025, 2, 1)):
        rows = _all(org).values("pk", *SLA_ROW_COLUMNS, **sla_row_annotations(now=now))
        for row in rows:
            assert sla_state_of_row(row, now) == row["sla_state"], (row["pk"], now)
