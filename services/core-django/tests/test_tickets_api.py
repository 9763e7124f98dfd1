"""The tickets API as agents, customers and bots use it, including everything they get wrong."""

import pytest
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.tickets.models import Ticket
from tests.factories import client_for, make_user

URL = "/api/v1/tickets/"


def _assert_error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["code"] == code
    assert body["request_id"] == response["X-Request-ID"]  # type: ignore[index]
    return body


@pytest.mark.django_db(transaction=True)
def test_agent_creates_a_ticket_with_a_bearer_token(agent: User) -> None:
    response = client_for(agent).post(
        URL, {"subject": "Tent zip", "description": "Stuck", "priority": "high"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1
    assert body["priority"] == "high"
    assert body["status"] == "new"
    assert body["channel"] == "api"
    assert body["organization"] == agent.organization.slug  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_ticket_numbers_are_sequential_per_organization(
    org: Organization, other_org: Organization
) -> None:
    ours, theirs = client_for(make_user(org)), client_for(make_user(other_org))
    numbers = [
        ours.post(URL, {"subject": "s", "description": "d"}, format="json").json()["number"],
        theirs.post(URL, {"subject": "s", "description": "d"}, format="json").json()["number"],
        ours.post(URL, {"subject": "s", "description": "d"}, format="json").json()["number"],
    ]
    assert numbers == [1, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_customer_lists_only_their_own_tickets(org: Organization) -> None:
    alice, bob = make_user(org, Role.CUSTOMER), make_user(org, Role.CUSTOMER)
    client_for(alice).post(URL, {"subject": "mine", "description": "d"}, format="json")
    client_for(bob).post(URL, {"subject": "bob's", "description": "d"}, format="json")
    listed = client_for(alice).get(URL).json()["results"]
    assert [t["subject"] for t in listed] == ["mine"]
    assert client_for(alice).get(f"{URL}2/").status_code == 404  # bob's ticket


@pytest.mark.django_db(transaction=True)
def test_agent_lists_the_organizations_tickets_newest_first(org: Organization, agent: User) -> None:
    customer = make_user(org, Role.CUSTOMER)
    for subject in ("first", "second"):
        client_for(customer).post(URL, {"subject": subject, "description": "d"}, format="json")
    listed = client_for(agent).get(URL).json()["results"]
    assert [t["subject"] for t in listed] == ["second", "first"]


@pytest.mark.django_db(transaction=True)
def test_agent_cannot_read_another_organizations_ticket(
    agent: User, other_org: Organization
) -> None:
    client_for(make_user(other_org)).post(URL, {"subject": "x", "description": "d"}, format="json")
    assert client_for(agent).get(URL).json()["results"] == []
    _assert_error(client_for(agent).get(f"{URL}1/"), 404, "not_found")


@pytest.mark.django_db
def test_unknown_fields_are_refused(agent: User) -> None:
    body = _assert_error(
        client_for(agent).post(
            URL, {"subject": "s", "description": "d", "priorty": "high"}, format="json"
        ),
        400,
        "validation_error",
    )
    assert body["details"] == {"priorty": ["This field is not allowed."]}
    assert not Ticket.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"description": "no subject"}, "subject"),
        ({"subject": "", "description": "d"}, "subject"),
        ({"subject": ["a", "list"], "description": "d"}, "subject"),
        ({"subject": "s", "description": "d", "priority": "whenever"}, "priority"),
        ({"subject": "x" * 201, "description": "d"}, "subject"),
    ],
)
def test_invalid_fields_get_field_details(
    agent: User, payload: dict[str, object], field: str
) -> None:
    body = _assert_error(
        client_for(agent).post(URL, payload, format="json"), 400, "validation_error"
    )
    assert field in body["details"]  # type: ignore[operator]


@pytest.mark.django_db
def test_malformed_json_is_a_400_not_a_500(agent: User) -> None:
    response = client_for(agent).generic("POST", URL, "{not json", content_type="application/json")
    _assert_error(response, 400, "parse_error")


@pytest.mark.django_db
def test_a_json_list_instead_of_an_object_is_a_validation_error(agent: User) -> None:
    _assert_error(client_for(agent).post(URL, [1, 2], format="json"), 400, "validation_error")


@pytest.mark.django_db
def test_form_encoded_bodies_are_unsupported(agent: User) -> None:
    response = client_for(agent).post(URL, {"subject": "s", "description": "d"})
    _assert_error(response, 415, "unsupported_media_type")


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer hdp_not-a-real-token", "Bearer", "Bearer a b"])
def test_a_bad_token_is_refused(header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    _assert_error(client.get(URL), 401, "authentication_failed")


@pytest.mark.django_db
def test_no_credentials_is_refused() -> None:
    _assert_error(APIClient().get(URL), 401, "not_authenticated")


@pytest.mark.django_db
def test_a_token_of_a_user_without_organization_is_refused() -> None:
    _assert_error(client_for(make_user(None)).get(URL), 401, "authentication_failed")


@pytest.mark.django_db
def test_a_deactivated_users_token_stops_working(agent: User) -> None:
    client = client_for(agent)
    agent.is_active = False
    agent.save()
    _assert_error(client.get(URL), 401, "authentication_failed")


@pytest.mark.django_db
def test_wrong_method_is_a_405_in_the_error_shape(agent: User) -> None:
    _assert_error(client_for(agent).delete(URL), 405, "method_not_allowed")


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404() -> None:
    _assert_error(APIClient().get("/api/v1/nothing-here/"), 404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_list_rows_have_exactly_the_shape_of_the_ticket_serializer(
    org: Organization, agent: User
) -> None:
    from helpdesk.tickets.serializers import TicketRowSerializer

    created = client_for(agent).post(URL, {"subject": "s", "description": "d"}, format="json")
    listed = client_for(agent).get(URL).json()["results"]
    assert set(listed[0]) == set(TicketRowSerializer().fields)
    for field in ("id", "number", "subject", "status", "priority", "version"):
        assert listed[0][field] == created.json()[field]


@pytest.mark.django_db(transaction=True)
def test_c48_ticket_lists_are_served_from_the_cache_until_a_ticket_changes(
    org: Organization, agent: User
) -> None:
    from helpdesk.tickets.cache import LOOKUPS

    def hits() -> float:
        return LOOKUPS.labels("ticket_list", "hit")._value.get()  # type: ignore[no-any-return]

    client = client_for(agent)
    client.post(URL, {"subject": "first", "description": "d"}, format="json")
    before = hits()
    assert [t["subject"] for t in client.get(URL).json()["results"]] == ["first"]
    assert [t["subject"] for t in client.get(URL).json()["results"]] == ["first"]
    assert hits() == before + 1  # the second read came from the cache
    client.post(URL, {"subject": "second", "description": "d"}, format="json")
    assert [t["subject"] for t in client.get(URL).json()["results"]] == ["second", "first"]


@pytest.mark.django_db(transaction=True)
def test_a_customer_never_gets_the_agents_cached_list(org: Organization, agent: User) -> None:
    customer = make_user(org, Role.CUSTOMER)
    client_for(make_user(org, Role.CUSTOMER)).post(
        URL, {"subject": "someone else's", "description": "d"}, format="json"
    )
    assert len(client_for(agent).get(URL).json()["results"]) == 1  # cached for agents
    assert client_for(customer).get(URL).json()["results"] == []


def _page_hits() -> float:
    from helpdesk.tickets.cache import LOOKUPS

    return LOOKUPS.labels("ticket_detail", "hit")._value.get()  # type: ignore[no-any-return]


@pytest.mark.django_db(transaction=True)
def test_c48_ticket_pages_are_served_from_the_cache_until_the_ticket_changes(
    org: Organization, agent: User
) -> None:
    client = client_for(agent)
    number = client.post(URL, {"subject": "page", "description": "d"}, format="json").json()[
        "number"
    ]
    first = client.get(f"{URL}{number}/")
    before = _page_hits()
    second = client.get(f"{URL}{number}/")
    assert _page_hits() == before + 1  # the second read came from the cache
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert second["Content-Type"] == "application/json"
    # Another agent of the organization sees the same page (and the cached one).
    assert client_for(make_user(org, Role.AGENT)).get(f"{URL}{number}/").content == first.content
    reply = client.post(f"{URL}{number}/comments", {"body": "On it", "public": True}, format="json")
    assert reply.status_code == 201, reply.content
    changed = client.get(f"{URL}{number}/")
    assert [c["body"] for c in changed.json()["comments"]] == ["On it"]
    assert changed["ETag"] != first["ETag"]
    # A stale If-Match is still refused after the cache served the page.
    stale = client.patch(
        f"{URL}{number}/", {"priority": "high"}, format="json", HTTP_IF_MATCH=first["ETag"]
    )
    assert stale.status_code == 412


@pytest.mark.django_db(transaction=True)
def test_customers_never_get_a_cached_ticket_page(org: Organization, agent: User) -> None:
    alice, bob = make_user(org, Role.CUSTOMER), make_user(org, Role.CUSTOMER)
    number = client_for(alice).post(URL, {"subject": "mine", "description": "d"}, format="json")
    path = f"{URL}{number.json()['number']}/"
    assert client_for(agent).get(path).json()["sla"] is not None  # cached for staff
    before = _page_hits()
    assert client_for(bob).get(path).status_code == 404  # not served from the staff entry
    own = client_for(alice).get(path).json()
    assert own["sla"] is None  # the customer's own view, not the agents'
    assert _page_hits() == before


@pytest.mark.django_db(transaction=True)
def test_a_ticket_page_lives_no_longer_than_its_sla_state(org: Organization, agent: User) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.sla.models import TicketSla
    from helpdesk.tickets.sla_glue import seconds_until_sla_changes

    client = client_for(agent)
    number = client.post(URL, {"subject": "s", "description": "d"}, format="json").json()["number"]
    ticket = Ticket.objects.select_related("sla").get(organization=org, number=number)
    try:
        sla = ticket.sla
    except TicketSla.DoesNotExist:
        assert seconds_until_sla_changes(ticket) == 86_400  # no clock: nothing changes by itself
        sla = TicketSla.objects.create(
            ticket=ticket, priority="normal", ticket_status="new", started_at=timezone.now()
        )
        ticket = Ticket.objects.select_related("sla").get(pk=ticket.pk)
        sla = ticket.sla
    now = timezone.now()
    TicketSla.objects.filter(pk=sla.pk).update(
        active=True,
        first_response_warn_at=now + timedelta(seconds=12),
        first_response_due_at=now + timedelta(minutes=5),
        resolution_warn_at=now - timedelta(minutes=1),  # past: not what ends the entry
        resolution_due_at=None,
    )
    ticket = Ticket.objects.select_related("sla").get(pk=ticket.pk)
    assert 10 <= seconds_until_sla_changes(ticket) <= 12
