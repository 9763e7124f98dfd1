"""GET /api/v1/reports/overview: aggregate numbers for the reports page, cached per version."""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.dashboard.reports import report_overview
from helpdesk.sla.models import SlaEventKind, TicketSlaEvent
from helpdesk.tickets.models import Queue, Ticket, TriageCorrection
from helpdesk.tickets.services import ticket_create, ticket_update
from tests.factories import client_for, make_user

URL = "/api/v1/reports/overview"


@pytest.fixture
def queue(org: Organization) -> Queue:
    return Queue.objects.create(organization=org, name="Billing")


@pytest.mark.django_db(transaction=True)
def test_customers_and_strangers_get_no_reports(org: Organization, customer: User) -> None:
    assert client_for(customer).get(URL).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_bad_parameters_are_400(agent: User) -> None:
    client = client_for(agent)
    assert client.get(URL, {"days": "0"}).status_code == 400
    assert client.get(URL, {"days": "91"}).status_code == 400
    assert client.get(URL, {"days": "x"}).status_code == 400
    assert client.get(URL, {"colour": "red"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_volume_counts_created_and_solved_per_day(
    org: Organization, agent: User, customer: User
) -> None:
    first = ticket_create(requester=customer, subject="a", description="d")
    ticket_create(requester=customer, subject="b", description="d")
    Ticket.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=2))
    ticket_update(ticket_id=first.pk, actor=agent, changes={"status": "solved"})
    body = client_for(agent).get(URL, {"days": "7"}).json()
    assert body["days"] == 7
    volume = body["volume"]
    assert len(volume["days"]) == 7
    assert volume["days"][-1] == timezone.now().date().isoformat()
    assert volume["created"][-1] == 1
    assert volume["created"][-3] == 1
    assert volume["solved"][-1] == 1
    assert body["totals"]["created"] == 2
    assert body["totals"]["created_today"] == 1
    assert body["totals"]["solved"] == 1
    assert body["totals"]["open"] == 1


@pytest.mark.django_db(transaction=True)
def test_backlog_is_by_queue_and_age(
    org: Organization, agent: User, customer: User, queue: Queue
) -> None:
    old = ticket_create(requester=customer, subject="old", description="d", queue=queue)
    ticket_create(requester=customer, subject="new", description="d", queue=queue)
    ticket_create(requester=customer, subject="loose", description="d")
    Ticket.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    backlog = client_for(agent).get(URL).json()["backlog"]
    assert backlog["buckets"] == ["< 1 day", "1-3 days", "3-7 days", "> 7 days"]
    by_queue = {row["queue"]: row for row in backlog["queues"]}
    assert by_queue["Billing"]["total"] == 2
    assert by_queue["Billing"]["ages"] == [1, 0, 0, 1]
    assert by_queue["No queue"]["ages"] == [1, 0, 0, 0]


@pytest.mark.django_db(transaction=True)
def test_breaches_come_from_the_sla_timelines(org: Organization, customer: User) -> None:
    ticket = ticket_create(requester=customer, subject="late", description="d")
    now = timezone.now()
    TicketSlaEvent.objects.create(
        ticket=ticket, kind=SlaEventKind.BREACHED, metric="first_response", at=now
    )
    TicketSlaEvent.objects.create(
        ticket=ticket, kind=SlaEventKind.BREACHED, metric="resolution", at=now - timedelta(days=1)
    )
    TicketSlaEvent.objects.create(
        ticket=ticket, kind=SlaEventKind.WARNING, metric="resolution", at=now
    )
    report = report_overview(organization_id=org.pk, days=3)
    assert report["breaches"]["first_response"] == [0, 0, 1]
    assert report["breaches"]["resolution"] == [0, 1, 0]
    assert report["totals"]["breaches"] == 2


@pytest.mark.django_db(transaction=True)
def test_triage_accepted_corrected_and_undecided(
    org: Organization, agent: User, customer: User
) -> None:
    now = timezone.now()
    tickets = [
        ticket_create(requester=customer, subject=f"t{i}", description="d") for i in range(3)
    ]
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
        ai_category="billing", ai_priority="high", ai_model="default@1", ai_triaged_at=now
    )
    ticket_update(ticket_id=tickets[0].pk, actor=agent, changes={"category": "billing"})
    ticket_update(ticket_id=tickets[1].pk, actor=agent, changes={"category": "bug_report"})
    assert TriageCorrection.objects.filter(ticket=tickets[1]).count() == 1
    triage = client_for(agent).get(URL).json()["triage"]
    assert triage["triaged"] == 3
    assert triage["accepted"] == 1
    assert triage["corrected"] == 1
    assert triage["undecided"] == 1
    assert triage["corrections_by_field"] == {"category": 1, "priority": 0}


@pytest.mark.django_db(transaction=True)
def test_response_times_per_priority_with_targets(org: Organization, agent: User) -> None:
    report = report_overview(organization_id=org.pk, days=14)
    rows = {r["priority"]: r for r in report["response_times"]}
    assert set(rows) == {"low", "normal", "high", "urgent"}
    assert rows["high"]["first_response"] == {
        "count": 0,
        "met": 0,
        "avg_minutes": None,
        "target_minutes": None,
    }


@pytest.mark.django_db(transaction=True)
def test_response_times_average_the_business_time_used(
    org: Organization, agent: User, customer: User
) -> None:
    from helpdesk.sla.models import SlaPolicy, TicketSla

    SlaPolicy.objects.create(
        organization=org, priority="high", first_response_minutes=60, resolution_minutes=480
    )
    ticket = ticket_create(requester=customer, subject="x", description="d", priority="high")
    now = timezone.now()
    TicketSla.objects.filter(ticket=ticket).update(
        first_responded_at=now, first_response_consumed=timedelta(minutes=30)
    )
    if not TicketSla.objects.filter(ticket=ticket).exists():
        pytest.skip("this SLA engine opens no clock without a calendar")
    row = next(
        r
        for r in report_overview(organization_id=org.pk, days=1)["response_times"]
        if r["priority"] == "high"
    )
    assert row["first_response"]["count"] == 1
    assert row["first_response"]["avg_minutes"] == 30.0
    assert row["first_response"]["met"] == 1
    assert row["first_response"]["target_minutes"] == 60


@pytest.mark.django_db(transaction=True)
def test_reports_are_cached_until_a_ticket_changes(
    org: Organization, agent: User, customer: User
) -> None:
    client = client_for(agent)
    assert client.get(URL).json()["totals"]["created"] == 0
    Ticket.objects.create(  # behind the services' back: the cache must still answer 0
        organization=org, number=99, subject="s", description="d", requester=customer
    )
    assert client.get(URL).json()["totals"]["created"] == 0
    ticket_create(requester=customer, subject="via service", description="d")
    assert client.get(URL).json()["totals"]["created"] == 2


@pytest.mark.django_db(transaction=True)
def test_other_organizations_tickets_never_count(
    org: Organization, other_org: Organization, agent: User
) -> None:
    ticket_create(requester=make_user(other_org, Role.CUSTOMER), subject="x", description="d")
    assert client_for(agent).get(URL).json()["totals"]["created"] == 0
