"""The SLA API: admins configure, agents read, nobody else sees anything; tickets' timelines."""

from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.sla.models import BusinessCalendar, SlaPolicy
from helpdesk.sla.policies import sla_calendar_create, sla_policy_create
from tests.factories import client_for, make_user
from tests.test_sla_services import berlin, open_ticket, reply, set_status

CALENDARS = "/api/v1/sla/calendars/"
POLICIES = "/api/v1/sla/policies/"
OFFICE: dict[str, Any] = {
    "name": "Office",
    "time_zone": "Europe/Berlin",
    "weekly_hours": {"mon": [["09:00", "12:00"], ["12:00", "17:00"]], "fri": [["09:00", "15:00"]]},
    "holidays": [{"date": "2025-12-25", "name": "Christmas"}, {"date": "2025-12-26"}],
}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["code"] == code
    return body


def as_role(org: Organization, role: Role) -> APIClient:
    return client_for(make_user(org, role))


@pytest.fixture
def admin(org: Organization) -> User:
    return make_user(org, Role.ADMIN)


@pytest.fixture
def theirs(other_org: Organization) -> BusinessCalendar:
    return sla_calendar_create(
        organization=other_org,
        name="Theirs",
        time_zone="UTC",
        weekly_hours={"mon": [["00:00", "24:00"]]},
    )


# --- calendars ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_creates_a_calendar_with_holidays(admin: User) -> None:
    response = client_for(admin).post(CALENDARS, OFFICE, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Office"
    assert body["time_zone"] == "Europe/Berlin"
    assert body["weekly_hours"]["mon"] == [["09:00", "17:00"]]  # merged
    assert body["weekly_hours"]["sun"] == []
    assert body["holidays"] == [
        {"date": "2025-12-25", "name": "Christmas"},
        {"date": "2025-12-26", "name": ""},
    ]
    listed = client_for(admin).get(CALENDARS).json()["results"]
    assert [c["id"] for c in listed] == [body["id"]]


@pytest.mark.django_db
def test_admin_changes_a_calendar_and_replaces_its_holidays(admin: User) -> None:
    created = client_for(admin).post(CALENDARS, OFFICE, format="json").json()
    url = f"{CALENDARS}{created['id']}/"
    response = client_for(admin).patch(
        url, {"holidays": [{"date": "2026-01-01", "name": "New Year"}]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["holidays"] == [{"date": "2026-01-01", "name": "New Year"}]
    assert response.json()["name"] == "Office"  # untouched
    renamed = client_for(admin).patch(url, {"time_zone": "America/New_York"}, format="json")
    assert renamed.json()["time_zone"] == "America/New_York"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {"funday": [["09:00", "17:00"]]}}, "weekly_hours"),
        ({"weekly_hours": {}}, "weekly_hours"),
        ({"holidays": [{"date": "2025-12-25"}, {"date": "2025-12-25"}]}, "holidays"),
        ({"holidays": [{"date": "not a date"}]}, "holidays.0.date"),
        ({"holidays": [{"date": "2025-12-25", "colour": "red"}]}, "holidays.0.colour"),
        ({"timezone": "UTC"}, "timezone"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_calendars_are_refused_field_by_field(
    admin: User, change: dict[str, Any], field: str
) -> None:
    body = _error(
        client_for(admin).post(CALENDARS, {**OFFICE, **change}, format="json"),
        400,
        "validation_error",
    )
    assert field in body["details"], body


@pytest.mark.django_db
def test_calendar_names_are_unique_in_an_organization(admin: User) -> None:
    client_for(admin).post(CALENDARS, OFFICE, format="json")
    body = _error(client_for(admin).post(CALENDARS, OFFICE, format="json"), 400, "validation_error")
    assert "name" in body["details"]


@pytest.mark.django_db
def test_a_calendar_in_use_cannot_be_deleted(admin: User) -> None:
    calendar = client_for(admin).post(CALENDARS, OFFICE, format="json").json()
    policy = client_for(admin).post(
        POLICIES,
        {
            "priority": "high",
            "first_response_minutes": 60,
            "resolution_minutes": 480,
            "calendar_id": calendar["id"],
        },
        format="json",
    )
    assert policy.status_code == 201, policy.content
    _error(client_for(admin).delete(f"{CALENDARS}{calendar['id']}/"), 409, "conflict")
    assert client_for(admin).delete(f"{POLICIES}{policy.json()['id']}/").status_code == 204
    assert client_for(admin).delete(f"{CALENDARS}{calendar['id']}/").status_code == 204
    assert not BusinessCalendar.objects.exists()


# --- policies -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_sets_a_policy_per_priority(admin: User) -> None:
    calendar = client_for(admin).post(CALENDARS, OFFICE, format="json").json()
    response = client_for(admin).post(
        POLICIES,
        {
            "priority": "normal",
            "first_response_minutes": 240,
            "resolution_minutes": 960,
            "calendar_id": calendar["id"],
            "warning_share": 0.8,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["calendar_name"] == "Office"
    assert body["warning_share"] == 0.8
    url = f"{POLICIES}{body['id']}/"
    around_the_clock = client_for(admin).patch(url, {"calendar_id": None}, format="json").json()
    assert around_the_clock["calendar_id"] is None
    assert around_the_clock["calendar_name"] is None
    assert around_the_clock["first_response_minutes"] == 240
    assert client_for(admin).get(url).json()["warning_share"] == 0.8
    duplicate = client_for(admin).post(
        POLICIES,
        {"priority": "normal", "first_response_minutes": 1, "resolution_minutes": 2},
        format="json",
    )
    assert "priority" in _error(duplicate, 400, "validation_error")["details"]


@pytest.mark.django_db
def test_policies_are_listed_most_urgent_first(admin: User, org: Organization) -> None:
    for priority in ("low", "urgent", "normal"):
        sla_policy_create(
            organization=org,
            priority=priority,
            first_response_minutes=60,
            resolution_minutes=600,
        )
    listed = client_for(admin).get(POLICIES).json()["results"]
    assert [p["priority"] for p in listed] == ["urgent", "normal", "low"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": "critical"}, "priority"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"resolution_minutes": "soon"}, "resolution_minutes"),
        ({"warning_share": 1.5}, "warning_share"),
        ({"calendar_id": 999_999}, "calendar_id"),
        ({"targets": {}}, "targets"),
    ],
)
def test_invalid_policies_are_refused_field_by_field(
    admin: User, change: dict[str, Any], field: str
) -> None:
    valid = {"priority": "high", "first_response_minutes": 60, "resolution_minutes": 480}
    response = client_for(admin).post(POLICIES, {**valid, **change}, format="json")
    assert field in _error(response, 400, "validation_error")["details"]
    assert not SlaPolicy.objects.exists()


@pytest.mark.django_db
def test_a_policy_cannot_count_in_another_organizations_calendar(
    admin: User, theirs: BusinessCalendar
) -> None:
    response = client_for(admin).post(
        POLICIES,
        {
            "priority": "high",
            "first_response_minutes": 60,
            "resolution_minutes": 480,
            "calendar_id": theirs.pk,
        },
        format="json",
    )
    assert "calendar_id" in _error(response, 400, "validation_error")["details"]


# --- who may do what ------------------------------------------------------------------------


@pytest.mark.django_db
def test_agents_read_but_do_not_change_sla_settings(org: Organization, admin: User) -> None:
    calendar = client_for(admin).post(CALENDARS, OFFICE, format="json").json()
    agent = as_role(org, Role.AGENT)
    assert agent.get(CALENDARS).status_code == 200
    assert agent.get(f"{CALENDARS}{calendar['id']}/").status_code == 200
    assert agent.get(POLICIES).status_code == 200
    _error(
        agent.post(CALENDARS, {**OFFICE, "name": "Mine"}, format="json"), 403, "permission_denied"
    )
    _error(agent.patch(f"{CALENDARS}{calendar['id']}/", {"name": "X"}), 403, "permission_denied")
    _error(agent.delete(f"{CALENDARS}{calendar['id']}/"), 403, "permission_denied")
    _error(
        agent.post(
            POLICIES,
            {"priority": "low", "first_response_minutes": 1, "resolution_minutes": 2},
            format="json",
        ),
        403,
        "permission_denied",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.BOT])
def test_customers_and_bots_see_no_sla_settings(org: Organization, admin: User, role: Role) -> None:
    calendar = client_for(admin).post(CALENDARS, OFFICE, format="json").json()
    client = as_role(org, role)
    for url in (CALENDARS, POLICIES, f"{CALENDARS}{calendar['id']}/"):
        _error(client.get(url), 403, "permission_denied")
    _error(client.post(CALENDARS, OFFICE, format="json"), 403, "permission_denied")


@pytest.mark.django_db
def test_another_organizations_settings_do_not_exist(
    admin: User, other_org: Organization, theirs: BusinessCalendar
) -> None:
    policy = sla_policy_create(
        organization=other_org, priority="low", first_response_minutes=1, resolution_minutes=2
    )
    client = client_for(admin)
    assert client.get(CALENDARS).json()["results"] == []
    assert client.get(POLICIES).json()["results"] == []
    for url in (f"{CALENDARS}{theirs.pk}/", f"{POLICIES}{policy.pk}/"):
        _error(client.get(url), 404, "not_found")
        _error(client.patch(url, {"name": "Mine"}, format="json"), 404, "not_found")
        _error(client.delete(url), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


@pytest.mark.django_db
def test_a_signed_out_caller_is_refused() -> None:
    assert APIClient().get(CALENDARS).status_code in {401, 403}


# --- the ticket's timeline ------------------------------------------------------------------


@pytest.fixture
def ticket_with_sla(org: Organization) -> Any:
    calendar = sla_calendar_create(
        organization=org,
        name="Office",
        time_zone="Europe/Berlin",
        weekly_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    sla_policy_create(
        organization=org,
        priority="normal",
        first_response_minutes=240,
        resolution_minutes=960,
        calendar=calendar,
    )
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 11))
    set_status(ticket, "pending", berlin(2025, 1, 6, 12))
    return ticket


@pytest.mark.django_db
def test_agents_read_a_tickets_sla_timeline(org: Organization, ticket_with_sla: Any) -> None:
    with time_machine.travel(berlin(2025, 1, 7, 10), tick=False):
        response = as_role(org, Role.AGENT).get(f"/api/v1/tickets/{ticket_with_sla.number}/sla")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["number"] == ticket_with_sla.number
    assert body["state"] == "paused"
    assert body["policy"]["first_response_minutes"] == 240
    assert body["policy"]["calendar"]["name"] == "Office"
    assert body["metrics"]["first_response"]["state"] == "met"
    assert body["metrics"]["resolution"]["state"] == "paused"
    assert body["metrics"]["resolution"]["elapsed_business_seconds"] == 7200
    assert [e["kind"] for e in body["events"]] == ["started", "first_response", "paused"]


@pytest.mark.django_db
def test_the_requester_cannot_see_the_sla_of_their_own_ticket(ticket_with_sla: Any) -> None:
    _error(
        client_for(ticket_with_sla.requester).get(f"/api/v1/tickets/{ticket_with_sla.number}/sla"),
        404,
        "not_found",
    )


@pytest.mark.django_db
def test_bots_and_other_organizations_do_not_find_the_timeline(
    org: Organization, other_org: Organization, ticket_with_sla: Any
) -> None:
    url = f"/api/v1/tickets/{ticket_with_sla.number}/sla"
    _error(as_role(org, Role.BOT).get(url), 404, "not_found")
    _error(as_role(other_org, Role.AGENT).get(url), 404, "not_found")
    _error(as_role(other_org, Role.ADMIN).get(url), 404, "not_found")


@pytest.mark.django_db
def test_a_ticket_without_a_policy_has_the_state_none(org: Organization) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10), priority="low")
    body = as_role(org, Role.AGENT).get(f"/api/v1/tickets/{ticket.number}/sla").json()
    assert body["state"] == "none"
    assert body["metrics"] == {}
    assert body["policy"] is None


@pytest.mark.django_db
def test_the_timeline_of_a_solved_ticket_says_met(org: Organization, ticket_with_sla: Any) -> None:
    set_status(ticket_with_sla, "solved", berlin(2025, 1, 7, 10))
    body = as_role(org, Role.ADMIN).get(f"/api/v1/tickets/{ticket_with_sla.number}/sla").json()
    assert body["state"] == "met"
    assert body["events"][-1]["kind"] == "resolved"
    assert body["events"][-1]["detail"]["outcome"] == "met"


def test_the_sla_endpoints_are_in_the_openapi_document(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--file", str(out))
    schema = out.read_text()
    assert "operationId: v1_sla_calendars_retrieve2" not in schema  # no collisions
    for path in (
        "/api/v1/sla/calendars/:",
        "/api/v1/sla/calendars/{id}/:",
        "/api/v1/sla/policies/:",
        "/api/v1/sla/policies/{id}/:",
        "/api/v1/tickets/{number}/sla:",
    ):
        assert path in schema
