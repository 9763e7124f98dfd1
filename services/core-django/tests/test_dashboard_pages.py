"""The web pages under /app/: sign-in with the session, who lands where, and what a page carries."""

import json
import re

import pytest
from django.test import Client

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.tickets.services import ticket_create
from tests.factories import make_user

PASSWORD = "correct horse battery staple"


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page_data(html: str) -> dict[str, object]:
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries its data in a JSON script block"
    data: dict[str, object] = json.loads(match.group(1))
    return data


@pytest.mark.django_db
def test_pages_send_anonymous_visitors_to_sign_in_and_back() -> None:
    response = Client().get("/app/tickets/3/")
    assert response.status_code == 302
    assert response["Location"] == "/app/login/?next=/app/tickets/3/"


@pytest.mark.django_db
def test_login_page_needs_the_csrf_token(agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/app/login/", {"email": agent.email, "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.django_db
def test_agent_signs_in_and_lands_on_the_dashboard(agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/app/login/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token
    response = client.post(
        "/app/login/",
        {"email": agent.email.upper(), "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302
    assert response["Location"] == "/app/"
    dashboard = client.get("/app/")
    assert dashboard.status_code == 200
    assert "no-store" in dashboard["Cache-Control"]


@pytest.mark.django_db
def test_login_goes_back_to_next_only_inside_the_app(agent: User) -> None:
    client = Client()
    inside = client.post(
        "/app/login/", {"email": agent.email, "password": PASSWORD, "next": "/app/reports/"}
    )
    assert inside["Location"] == "/app/reports/"
    client.logout()
    outside = client.post(
        "/app/login/", {"email": agent.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert outside["Location"] == "/app/"


@pytest.mark.django_db
def test_wrong_password_is_refused_with_a_message(agent: User) -> None:
    response = Client().post("/app/login/", {"email": agent.email, "password": "nope"})
    assert response.status_code == 401
    assert "The email or the password is wrong." in response.content.decode()


@pytest.mark.django_db
def test_login_page_is_rate_limited_like_the_api(agent: User, settings: object) -> None:
    settings.LOGIN_RATE_LIMIT = "2/minute"  # type: ignore[attr-defined]
    client = Client()
    for _ in range(2):
        assert (
            client.post("/app/login/", {"email": agent.email, "password": "x"}).status_code == 401
        )
    response = client.post("/app/login/", {"email": agent.email, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_customer_lands_on_the_portal_and_cannot_open_agent_pages(customer: User) -> None:
    client = Client()
    response = client.post("/app/login/", {"email": customer.email, "password": PASSWORD})
    assert response["Location"] == "/app/portal/"
    for path in ("/app/", "/app/reports/", "/app/tickets/1/"):
        assert client.get(path)["Location"] == "/app/portal/"


@pytest.mark.django_db
def test_agents_are_sent_from_the_portal_to_the_dashboard(agent: User) -> None:
    assert _signed_in(agent).get("/app/portal/")["Location"] == "/app/"


@pytest.mark.django_db
def test_bots_cannot_use_the_pages(org: Organization) -> None:
    bot = make_user(org, Role.BOT)
    response = Client().post("/app/login/", {"email": bot.email, "password": PASSWORD})
    assert response.status_code == 401


@pytest.mark.django_db
def test_dashboard_carries_the_directory_and_loads_its_script(agent: User) -> None:
    response = _signed_in(agent).get("/app/")
    html = response.content.decode()
    data = _page_data(html)
    assert data["me"] == {
        "id": agent.pk,
        "name": agent.full_name,
        "email": agent.email,
        "role": "agent",
        "organization": agent.organization.name,  # type: ignore[union-attr]
    }
    assert {"id": agent.pk, "name": agent.full_name} in data["staff"]  # type: ignore[operator]
    assert '<script src="/static/dashboard/build/agent.js" defer></script>' in html
    assert '<meta name="csrf-token"' in html
    # The gateway's CSP: no inline script or style anywhere on the page.
    assert not re.search(r"<script(?![^>]*(src=|type=\"application/json\"))", html)
    assert " style=" not in html
    assert "<style" not in html


@pytest.mark.django_db(transaction=True)
def test_ticket_page_exists_only_for_tickets_the_agent_may_see(
    agent: User, other_org: Organization
) -> None:
    ticket = ticket_create(requester=agent, subject="Zip", description="stuck")
    client = _signed_in(agent)
    page = client.get(f"/app/tickets/{ticket.number}/")
    assert page.status_code == 200
    assert _page_data(page.content.decode())["ticket"] == {"id": ticket.pk, "number": 1}
    stranger = make_user(other_org, Role.AGENT)
    assert _signed_in(stranger).get(f"/app/tickets/{ticket.number}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_portal_ticket_page_is_the_requesters_only(org: Organization, customer: User) -> None:
    ticket = ticket_create(requester=customer, subject="Help", description="please")
    assert _signed_in(customer).get(f"/app/portal/tickets/{ticket.number}/").status_code == 200
    other = make_user(org, Role.CUSTOMER)
    assert _signed_in(other).get(f"/app/portal/tickets/{ticket.number}/").status_code == 404


@pytest.mark.django_db
def test_logout_is_a_post(agent: User) -> None:
    client = _signed_in(agent)
    assert client.get("/app/logout/").status_code == 405
    assert client.post("/app/logout/")["Location"] == "/app/login/"
    assert client.get("/app/")["Location"].startswith("/app/login/")
