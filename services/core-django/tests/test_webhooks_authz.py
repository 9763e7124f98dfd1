"""Who may use the webhooks API: every route x role x (own organization, another one).

Only the organization's admins manage its webhooks. Agents, customers and bots are refused
(403) without a lookup, so they learn nothing; an admin asking for another organization's
endpoint or delivery gets 404, exactly as for one that does not exist.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role
from helpdesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from helpdesk.webhooks.services import StreamEvent, deliveries_create, endpoint_create
from helpdesk_shared import uuid7
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # {e}: an endpoint's id, {d}: a delivery's
    success: int
    body: dict[str, Any] | None = None

    @property
    def on_an_object(self) -> bool:
        return "{e}" in self.path


ROUTES = [
    Route("list", "get", "", 200),
    Route("create", "post", "", 201, {"url": "https://h.example.com/x", "event_types": ["*"]}),
    Route("event types", "get", "event-types", 200),
    Route("read", "get", "{e}/", 200),
    Route("update", "patch", "{e}/", 200, {"description": "changed"}),
    Route("delete", "delete", "{e}/", 204),
    Route("rotate secret", "post", "{e}/rotate-secret", 200, {}),
    Route("enable", "post", "{e}/enable", 200),
    Route("ping", "post", "{e}/ping", 202),
    Route("deliveries", "get", "{e}/deliveries/", 200),
    Route("delivery", "get", "{e}/deliveries/{d}/", 200),
    Route("replay", "post", "{e}/deliveries/{d}/replay", 202),
]
OBJECT_ROUTES = [r for r in ROUTES if r.on_an_object]


@dataclass
class Tenant:
    org: Organization
    endpoint: WebhookEndpoint
    delivery: WebhookDelivery


def _tenant(slug: str) -> Tenant:
    org = Organization.objects.create(slug=slug, name=slug.title())
    endpoint = endpoint_create(
        organization_id=org.pk, url=f"https://{slug}.example.com/hook", event_types=["*"]
    )
    event = StreamEvent(uuid7(), "ticket.created", org.pk, '{"id": "x"}')
    deliveries_create(events=[event], max_attempts=1, now=timezone.now())
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # Finished, so that it may be replayed.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, attempts=1
    )
    return Tenant(org, endpoint, delivery)


@pytest.fixture
def ours(db: None) -> Tenant:
    return _tenant("ours")


@pytest.fixture
def theirs(db: None) -> Tenant:
    return _tenant("theirs")


def _call(client: APIClient, route: Route, tenant: Tenant) -> Any:
    path = route.path.format(e=tenant.endpoint.pk, d=tenant.delivery.pk)
    call = getattr(client, route.method)
    return call(f"/api/v1/webhooks/{path}", route.body, format="json")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_an_admin_may_use_every_route_in_their_organization(
    route: Route, ours: Tenant, theirs: Tenant
) -> None:
    response = _call(client_for(make_user(ours.org, Role.ADMIN)), route, ours)
    assert response.status_code == route.success, response.content


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=lambda r: r.name)
def test_an_admin_gets_404_for_another_organizations_objects(
    route: Route, ours: Tenant, theirs: Tenant
) -> None:
    before = WebhookEndpoint.objects.values().get(pk=theirs.endpoint.pk)
    response = _call(client_for(make_user(ours.org, Role.ADMIN)), route, theirs)
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert WebhookEndpoint.objects.values().get(pk=theirs.endpoint.pk) == before
    assert WebhookDelivery.objects.filter(endpoint=theirs.endpoint).count() == 1


@pytest.mark.parametrize(
    "route", [r for r in OBJECT_ROUTES if "{d}" in r.path], ids=lambda r: r.name
)
def test_another_organizations_delivery_is_not_found_under_ones_own_endpoint(
    route: Route, ours: Tenant, theirs: Tenant
) -> None:
    path = route.path.format(e=ours.endpoint.pk, d=theirs.delivery.pk)
    client = client_for(make_user(ours.org, Role.ADMIN))
    response = getattr(client, route.method)(f"/api/v1/webhooks/{path}", format="json")
    assert response.status_code == 404


def test_an_admin_lists_only_their_organizations_endpoints(ours: Tenant, theirs: Tenant) -> None:
    listed = client_for(make_user(ours.org, Role.ADMIN)).get("/api/v1/webhooks/").json()
    assert [e["id"] for e in listed["results"]] == [ours.endpoint.pk]


@pytest.mark.parametrize("whose", ["own", "other"])
@pytest.mark.parametrize("role", [Role.AGENT, Role.CUSTOMER, Role.BOT])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_agents_customers_and_bots_are_refused(
    route: Route, role: Role, whose: str, ours: Tenant, theirs: Tenant
) -> None:
    before = WebhookEndpoint.objects.count(), WebhookDelivery.objects.count()
    target = ours if whose == "own" else theirs
    response = _call(client_for(make_user(ours.org, role)), route, target)
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert (WebhookEndpoint.objects.count(), WebhookDelivery.objects.count()) == before


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_anonymous_callers_must_authenticate(route: Route, ours: Tenant) -> None:
    response = _call(APIClient(), route, ours)
    assert response.status_code == 401, response.content
