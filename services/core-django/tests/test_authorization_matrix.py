"""The authorization matrix: every endpoint x every role x (own organization, another one).

Each case runs against two fresh tenants. In its own organization a role gets what the matrix
says; on another organization's objects every role gets 404 (it may not learn they exist).
A test at the end fails when an endpoint is added to the URLconf without a row here.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import api_token_create
from tests.world import Tenant, make_tenant

A, G, C, B = Role.ADMIN, Role.AGENT, Role.CUSTOMER, Role.BOT
ALL = (A, G, C, B)


def everyone(status: int) -> dict[Role, int]:
    return dict.fromkeys(ALL, status)


def staff(ok: int, refused: int = 403) -> dict[Role, int]:
    """Admins, agents and bots: ``ok``; customers: ``refused``."""
    return {A: ok, G: ok, C: refused, B: ok}


def agents(ok: int, refused: int = 403) -> dict[Role, int]:
    """People who work tickets: admins and agents."""
    return {A: ok, G: ok, C: refused, B: refused}


def admins(ok: int, refused: int = 403) -> dict[Role, int]:
    return {A: ok, G: refused, C: refused, B: refused}


@dataclass(frozen=True)
class Case:
    name: str  # the URL's name
    method: str
    path: str  # placeholders filled from a tenant (and the caller's role)
    expected: dict[Role, int]
    body: Any = None
    cross_tenant: bool = True  # the path names an object of a tenant

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}"


CASES = [
    Case("ticket-list", "GET", "/api/v1/tickets/", everyone(200), cross_tenant=False),
    Case(
        "ticket-list",
        "POST",
        "/api/v1/tickets/",
        everyone(201),
        {"subject": "s", "description": "d"},
        cross_tenant=False,
    ),
    Case("ticket-detail", "GET", "/api/v1/tickets/{ticket}/", everyone(200)),
    Case("ticket-detail", "PATCH", "/api/v1/tickets/{ticket}/", staff(200), {"priority": "high"}),
    Case("ticket-comments", "GET", "/api/v1/tickets/{ticket}/comments", everyone(200)),
    Case(
        "ticket-comments",
        "POST",
        "/api/v1/tickets/{ticket}/comments",
        everyone(201),
        {"body": "hi"},
    ),
    Case(
        "ticket-comments",
        "POST",
        "/api/v1/tickets/{ticket}/comments",
        staff(201),
        {"body": "internal", "public": False},
    ),
    Case("ticket-history", "GET", "/api/v1/tickets/{ticket}/history", everyone(200)),
    Case(
        "ticket-merge", "POST", "/api/v1/tickets/{second}/merge", agents(200), {"into": "{ticket}"}
    ),
    Case("ticket-links", "GET", "/api/v1/tickets/{ticket}/links", staff(200)),
    Case(
        "ticket-links",
        "POST",
        "/api/v1/tickets/{ticket}/links",
        agents(201),
        {"number": "{second}"},
    ),
    Case("ticket-link-detail", "DELETE", "/api/v1/tickets/{ticket}/links/{second}", agents(204)),
    Case(
        "ticket-macro-apply", "POST", "/api/v1/tickets/{ticket}/macros/{macro}/apply", agents(200)
    ),
    Case("attachment", "GET", "/api/v1/attachments/{attachment}", everyone(200)),
    Case("macro-list", "GET", "/api/v1/macros/", staff(200), cross_tenant=False),
    Case(
        "macro-list",
        "POST",
        "/api/v1/macros/",
        admins(201),
        {"name": "New", "body": "Hello"},
        cross_tenant=False,
    ),
    Case("macro-detail", "GET", "/api/v1/macros/{macro}", staff(200)),
    Case("macro-detail", "PATCH", "/api/v1/macros/{macro}", admins(200), {"body": "Hey"}),
    Case("macro-detail", "DELETE", "/api/v1/macros/{macro}", admins(204)),
    Case("queue-list", "GET", "/api/v1/queues/", staff(200), cross_tenant=False),
    Case(
        "queue-list", "POST", "/api/v1/queues/", admins(201), {"name": "Tech"}, cross_tenant=False
    ),
    Case("queue-detail", "GET", "/api/v1/queues/{queue}", staff(200)),
    Case(
        "queue-detail",
        "PATCH",
        "/api/v1/queues/{queue}",
        admins(200),
        {"assignment": "round_robin"},
    ),
    Case("queue-detail", "DELETE", "/api/v1/queues/{queue}", admins(204)),
    Case("view-list", "GET", "/api/v1/views/", everyone(200), cross_tenant=False),
    Case(
        "view-list",
        "POST",
        "/api/v1/views/",
        everyone(201),
        {"name": "Urgent", "filters": {"priority": "urgent"}},
        cross_tenant=False,
    ),
    Case("view-detail", "GET", "/api/v1/views/{view}", everyone(200)),
    Case("view-detail", "PATCH", "/api/v1/views/{view}", everyone(200), {"name": "Renamed"}),
    Case("view-detail", "DELETE", "/api/v1/views/{view}", everyone(204)),
    Case("tag-list", "GET", "/api/v1/tags/", staff(200), cross_tenant=False),
    Case("dashboard-counters", "GET", "/api/v1/dashboard/counters", staff(200), cross_tenant=False),
    Case("reports-overview", "GET", "/api/v1/reports/overview", staff(200), cross_tenant=False),
    Case(
        "triage-corrections", "GET", "/api/v1/triage/corrections", admins(200), cross_tenant=False
    ),
    Case("me", "GET", "/api/v1/me", everyone(200), cross_tenant=False),
    Case("me", "PATCH", "/api/v1/me", everyone(200), {"full_name": "New Name"}, cross_tenant=False),
    Case("token-list", "GET", "/api/v1/tokens/", everyone(200), cross_tenant=False),
    Case(
        "token-list",
        "POST",
        "/api/v1/tokens/",
        {A: 201, G: 201, C: 403, B: 201},
        {"name": "ci", "scopes": ["tickets:read"]},
        cross_tenant=False,
    ),
    Case("token-detail", "DELETE", "/api/v1/tokens/{token}", everyone(204)),
    Case("realtime-token", "POST", "/api/v1/realtime/token", everyone(201), cross_tenant=False),
    Case("ticket-sla", "GET", "/api/v1/tickets/{ticket}/sla", agents(200, 404)),
]


def _placeholders(tenant: Tenant, role: Role) -> dict[str, Any]:
    # A second token of the role's user, so that revoking it leaves the caller signed in.
    spare = api_token_create(user=tenant.users[role])
    from knox.crypto import hash_token
    from knox.models import AuthToken

    return {
        "ticket": tenant.ticket.number,
        "second": tenant.second.number,
        "macro": tenant.macro.pk,
        "queue": tenant.queue.pk,
        "view": tenant.views[role].pk,
        "attachment": tenant.reply.attachments.get().pk,
        "token": AuthToken.objects.get(digest=hash_token(spare)).token_key,
    }


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in values:
            return values[value[1:-1]]
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _call(tenant: Tenant, role: Role, case: Case, target: Tenant) -> Any:
    values = _placeholders(target, role)
    client = tenant.client(role)
    return client.generic(
        case.method,
        _fill(case.path, values),
        data=__import__("json").dumps(_fill(case.body, values)) if case.body is not None else "",
        content_type="application/json",
    )


@pytest.fixture
def tenants(db: None) -> tuple[Tenant, Tenant]:
    return make_tenant("acme"), make_tenant("globex", skip_numbers=100)


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_own_organization(case: Case, role: Role, tenants: tuple[Tenant, Tenant]) -> None:
    own, _other = tenants
    response = _call(own, role, case, own)
    assert response.status_code == case.expected[role], response.content


CROSS = [c for c in CASES if c.cross_tenant]


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("case", CROSS, ids=[c.id for c in CROSS])
def test_another_organization_is_invisible(
    case: Case, role: Role, tenants: tuple[Tenant, Tenant]
) -> None:
    own, other = tenants
    response = _call(own, role, case, other)
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", ALL)
def test_lists_hold_nothing_of_another_organization(
    role: Role, tenants: tuple[Tenant, Tenant]
) -> None:
    own, other = tenants
    client = own.client(role)
    numbers_and_subjects = client.get("/api/v1/tickets/").json()["results"]
    ids = {row["id"] for row in numbers_and_subjects}
    assert not ids & {other.ticket.pk, other.second.pk}
    if role != C:
        for path in ("/api/v1/macros/", "/api/v1/queues/"):
            names = {item["id"] for item in client.get(path).json()}
            assert other.macro.pk not in names
            assert other.queue.pk not in names


def _api_names(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_names(pattern.url_patterns, route)
        elif route.startswith("api/v1/") and pattern.name:
            yield pattern.name, route


# Endpoints outside the matrix, and why.
NOT_IN_MATRIX = {
    "auth-csrf": "anonymous by design (tests/test_auth_sessions.py)",
    "auth-login": "anonymous by design (tests/test_auth_sessions.py)",
    "auth-logout": "acts on the caller's own session only",
    "internal-triage": "service credential only (tests/test_internal_api.py)",
    "internal-room-access": "service credential only (tests/test_internal_api.py)",
}


# Endpoints whose own test modules carry their authorization matrix (same rules: admins manage,
# other roles are refused, another organization's objects are 404), by name prefix.
OWN_MATRIX = {
    "sla-": "tests/test_sla_api.py",
    "webhook-": "tests/test_webhooks_authz.py",
}


def test_every_endpoint_is_in_the_matrix() -> None:
    covered = {c.name for c in CASES} | set(NOT_IN_MATRIX)
    missing = sorted(
        f"{name} ({route})"
        for name, route in _api_names(get_resolver().url_patterns)
        if name not in covered and not name.startswith(tuple(OWN_MATRIX))
    )
    assert not missing, f"add these endpoints to the authorization matrix: {missing}"
