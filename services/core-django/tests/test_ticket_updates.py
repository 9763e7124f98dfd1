"""Changing tickets: the allowed status transitions, and optimistic concurrency (If-Match / 412),
the server-side half of collision detection."""

import pytest

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.outbox.models import OutboxEvent
from helpdesk.tickets.models import Ticket
from helpdesk_shared import TicketUpdated, parse_event
from tests.factories import client_for, make_user

URL = "/api/v1/tickets/"


@pytest.fixture
def ticket_number(org: Organization) -> int:
    customer = make_user(org, Role.CUSTOMER)
    response = client_for(customer).post(URL, {"subject": "s", "description": "d"}, format="json")
    return int(response.json()["number"])


@pytest.mark.django_db(transaction=True)
def test_agent_changes_status_and_priority_with_the_current_etag(
    agent: User, ticket_number: int
) -> None:
    client = client_for(agent)
    etag = client.get(f"{URL}{ticket_number}/")["ETag"]
    assert etag == '"v1"'
    response = client.patch(
        f"{URL}{ticket_number}/",
        {"status": "open", "priority": "urgent"},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open"
    assert response.json()["version"] == 2
    assert response["ETag"] == '"v2"'
    event = parse_event(OutboxEvent.objects.order_by("-id").first().payload)  # type: ignore[union-attr]
    assert isinstance(event, TicketUpdated)
    assert event.actor.id == agent.pk
    assert event.data.version == 2
    assert [(c.field, c.old, c.new) for c in event.data.changes] == [
        ("status", "new", "open"),
        ("priority", "normal", "urgent"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_stale_if_match_is_refused_with_412_and_the_current_ticket(
    org: Organization, agent: User, ticket_number: int
) -> None:
    other_agent = make_user(org, Role.AGENT)
    url = f"{URL}{ticket_number}/"
    seen = client_for(agent).get(url)["ETag"]
    client_for(other_agent).patch(url, {"status": "pending"}, format="json", HTTP_IF_MATCH=seen)

    response = client_for(agent).patch(url, {"status": "solved"}, format="json", HTTP_IF_MATCH=seen)
    assert response.status_code == 412
    body = response.json()
    assert body["code"] == "precondition_failed"
    assert body["request_id"] == response["X-Request-ID"]
    assert body["current"]["status"] == "pending"
    assert body["current"]["version"] == 2
    assert response["ETag"] == '"v2"'
    assert Ticket.objects.get().status == "pending"  # nothing of the stale write landed


@pytest.mark.django_db(transaction=True)
def test_a_garbled_if_match_never_matches(agent: User, ticket_number: int) -> None:
    response = client_for(agent).patch(
        f"{URL}{ticket_number}/", {"status": "open"}, format="json", HTTP_IF_MATCH="yesterday"
    )
    assert response.status_code == 412


@pytest.mark.django_db(transaction=True)
def test_an_invalid_transition_names_the_allowed_ones(agent: User, ticket_number: int) -> None:
    client = client_for(agent)
    url = f"{URL}{ticket_number}/"
    client.patch(url, {"status": "solved"}, format="json")
    client.patch(url, {"status": "closed"}, format="json")
    response = client.patch(url, {"status": "open"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "final" in response.json()["details"]["status"][0]
    response = client.patch(url, {"status": "whatever"}, format="json")
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_setting_a_field_to_its_value_is_no_change(agent: User, ticket_number: int) -> None:
    before = OutboxEvent.objects.count()
    response = client_for(agent).patch(f"{URL}{ticket_number}/", {"status": "new"}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert OutboxEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_customers_cannot_change_fields(org: Organization, ticket_number: int) -> None:
    requester = Ticket.objects.get().requester
    response = client_for(requester).patch(
        f"{URL}{ticket_number}/", {"status": "solved"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db(transaction=True)
def test_another_organizations_agent_gets_404(other_org: Organization, ticket_number: int) -> None:
    outsider = make_user(other_org, Role.AGENT)
    response = client_for(outsider).patch(
        f"{URL}{ticket_number}/", {"status": "open"}, format="json"
    )
    assert response.status_code == 404
    assert Ticket.objects.get().status == "new"


@pytest.mark.django_db(transaction=True)
def test_unknown_fields_in_a_change_are_refused(agent: User, ticket_number: int) -> None:
    response = client_for(agent).patch(f"{URL}{ticket_number}/", {"requester_id": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"requester_id": ["This field is not allowed."]}


@pytest.mark.django_db(transaction=True)
def test_a_change_invalidates_the_cached_list(agent: User, ticket_number: int) -> None:
    client = client_for(agent)
    assert client.get(URL).json()["results"][0]["status"] == "new"
    client.patch(f"{URL}{ticket_number}/", {"status": "open"}, format="json")
    assert client.get(URL).json()["results"][0]["status"] == "open"
