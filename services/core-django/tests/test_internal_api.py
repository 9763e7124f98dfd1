"""The endpoints other services call with the service credential: the AI's triage verdicts and
realtime's room checks."""

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from helpdesk.accounts.models import Role
from helpdesk.tickets.models import AssignmentStrategy, AuditEntry, Queue, TriageCorrection
from tests.world import Tenant, make_tenant

pytestmark = pytest.mark.django_db

SERVICE_TOKEN = "service-credential-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _service_token(settings: Any) -> None:
    settings.HELPDESK_SERVICE_TOKEN = SERVICE_TOKEN


@pytest.fixture
def acme(db: None) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def service() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SERVICE_TOKEN}")
    return client


def _verdict(
    tenant: Tenant, *, category: float = 0.95, priority: float = 0.9, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "organization_id": tenant.org.pk,
        "ticket_id": tenant.second.pk,
        "category": {"label": "billing", "confidence": category},
        "priority": {"label": "high", "confidence": priority},
        "sentiment": {"label": "negative", "confidence": 0.8},
        "language": {"label": "en", "confidence": 0.99},
        "model_id": "default",
        "model_version": "3",
        **extra,
    }


def test_a_confident_verdict_is_applied_and_routed_as_the_ai(
    acme: Tenant, service: APIClient
) -> None:
    acme.queue.categories = ["billing"]
    acme.queue.assignment = AssignmentStrategy.ROUND_ROBIN
    acme.queue.save()
    response = service.post("/api/v1/internal/triage", _verdict(acme), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["applied"] is True
    ticket = acme.client(Role.AGENT).get(f"/api/v1/tickets/{acme.second.number}/").json()
    assert (ticket["category"], ticket["priority"], ticket["queue"]["id"]) == (
        "billing",
        "high",
        acme.queue.pk,
    )
    assert ticket["assignee"]["id"] == acme.users[Role.AGENT].pk
    assert ticket["triage"]["category"] == {"label": "billing", "confidence": 0.95}
    assert ticket["triage"]["model"] == "default@3"
    assert ticket["triage"]["applied"] is True
    entry = AuditEntry.objects.get(ticket=acme.second, field="category")
    assert entry.actor_kind == "ai"


def test_an_unsure_verdict_is_kept_as_a_suggestion(acme: Tenant, service: APIClient) -> None:
    response = service.post(
        "/api/v1/internal/triage", _verdict(acme, category=0.4, priority=0.3), format="json"
    )
    assert response.json()["applied"] is False
    acme.second.refresh_from_db()
    assert acme.second.category == ""
    assert acme.second.priority == "normal"
    assert acme.second.ai_category == "billing"


def test_the_same_event_twice_changes_nothing(acme: Tenant, service: APIClient) -> None:
    verdict = _verdict(acme)
    service.post("/api/v1/internal/triage", verdict, format="json")
    acme.second.refresh_from_db()
    version = acme.second.version
    again = service.post("/api/v1/internal/triage", verdict, format="json")
    assert again.status_code == 200
    assert again.json()["applied"] is False
    acme.second.refresh_from_db()
    assert acme.second.version == version


def test_the_same_verdict_for_a_new_event_is_no_change(acme: Tenant, service: APIClient) -> None:
    """A customer's reply re-triaged to what the AI said before: 200, no version, no event."""
    assert service.post("/api/v1/internal/triage", _verdict(acme), format="json").status_code == 200
    acme.second.refresh_from_db()
    version = acme.second.version
    again = service.post("/api/v1/internal/triage", _verdict(acme), format="json")
    assert again.status_code == 200, again.content
    assert again.json()["applied"] is False
    acme.second.refresh_from_db()
    assert acme.second.version == version


def test_the_ai_does_not_override_an_agent(acme: Tenant, service: APIClient) -> None:
    agent = acme.client(Role.AGENT)
    agent.patch(f"/api/v1/tickets/{acme.second.number}/", {"priority": "low"}, format="json")
    service.post("/api/v1/internal/triage", _verdict(acme), format="json")
    acme.second.refresh_from_db()
    assert acme.second.priority == "low"
    assert acme.second.category == "billing"


def test_an_agents_correction_becomes_a_training_example(acme: Tenant, service: APIClient) -> None:
    service.post("/api/v1/internal/triage", _verdict(acme), format="json")
    acme.client(Role.AGENT).patch(
        f"/api/v1/tickets/{acme.second.number}/", {"category": "refund_return"}, format="json"
    )
    correction = TriageCorrection.objects.get()
    assert (correction.predicted, correction.corrected) == ("billing", "refund_return")
    examples = acme.client(Role.ADMIN).get("/api/v1/triage/corrections").json()
    assert examples[0]["label"] == "refund_return"
    assert acme.second.subject in examples[0]["text"]
    csv_body = acme.client(Role.ADMIN).get("/api/v1/triage/corrections", {"as": "csv"}).content
    assert csv_body.decode().splitlines()[0] == "text,label"


def test_bad_verdicts_are_400_and_unknown_tickets_404(acme: Tenant, service: APIClient) -> None:
    bad = service.post("/api/v1/internal/triage", _verdict(acme, category=1.5), format="json")
    assert bad.status_code == 400
    assert "category.confidence" in bad.json()["details"]
    other = make_tenant("globex")
    foreign = _verdict(acme)
    foreign["ticket_id"] = other.ticket.pk  # a ticket of another organization
    assert service.post("/api/v1/internal/triage", foreign, format="json").status_code == 404


def test_users_tokens_cannot_call_internal_endpoints(acme: Tenant) -> None:
    for role in (Role.ADMIN, Role.BOT):
        response = acme.client(role).post("/api/v1/internal/triage", _verdict(acme), format="json")
        assert response.status_code == 401
    anonymous = APIClient().post("/api/v1/internal/room-access", {}, format="json")
    assert anonymous.status_code in (401, 403)


def test_room_access_follows_who_may_see_what(acme: Tenant, service: APIClient) -> None:
    other = make_tenant("globex")

    def ask(user_id: int, kind: str, object_id: int) -> dict[str, Any]:
        response = service.post(
            "/api/v1/internal/room-access",
            {"user_id": user_id, "kind": kind, "id": object_id},
            format="json",
        )
        assert response.status_code == 200, response.content
        return dict(response.json())

    customer, agent = acme.users[Role.CUSTOMER], acme.users[Role.AGENT]
    assert ask(customer.pk, "ticket", acme.ticket.pk)["allowed"] is True
    assert ask(customer.pk, "ticket", acme.ticket.pk)["number"] == acme.ticket.number
    assert ask(agent.pk, "ticket", acme.ticket.pk)["organization_id"] == acme.org.pk
    assert ask(agent.pk, "ticket", other.ticket.pk)["allowed"] is False
    assert ask(customer.pk, "queue", acme.queue.pk)["allowed"] is False
    assert ask(agent.pk, "queue", acme.queue.pk)["allowed"] is True
    assert ask(agent.pk, "queue", other.queue.pk)["allowed"] is False
    stranger = make_tenant("initech").users[Role.CUSTOMER]
    assert ask(stranger.pk, "ticket", acme.ticket.pk)["allowed"] is False
    garbled = service.post("/api/v1/internal/room-access", {"user_id": "x"}, format="json")
    assert garbled.status_code == 400
    assert Queue.objects.filter(pk=acme.queue.pk).exists()
