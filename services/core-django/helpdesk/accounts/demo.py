"""The demo data ``make run`` seeds: two organizations, each with an admin, agents, customers,
a bot and a few tickets. Idempotent: running it again changes nothing that is already there,
and credentials from the previous run are kept while they still work. Passwords and tokens are
made on the machine that runs it; none is written in the code.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.accounts.services import api_token_create
from helpdesk.tickets.models import Priority, Ticket
from helpdesk.tickets.services import ticket_create


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    agents: tuple[str, ...]
    customers: tuple[str, ...]
    tickets: tuple[tuple[str, str, str], ...]


DEMO_ORGS = (
    DemoOrg(
        slug="acme",
        name="Acme Outdoor Gear",
        agents=("Alice Novak", "Bruno Silva"),
        customers=("Carla Jensen", "David Okafor"),
        tickets=(
            ("Order #4411 arrived with a torn tent", "The fly sheet has a 10 cm tear.", "high"),
            ("How do I change my delivery address?", "I moved last week.", "normal"),
        ),
    ),
    DemoOrg(
        slug="globex",
        name="Globex Software",
        agents=("Grace Lim", "Hugo Martin"),
        customers=("Ingrid Berg", "Jamal Reed"),
        tickets=(
            ("Cannot log in after password reset", "The reset link says expired.", "urgent"),
            ("Invoice shows the wrong VAT number", "Please correct it to DE123456789.", "normal"),
        ),
    ),
)


def _email(name: str, domain: str) -> str:
    return f"{name.split()[0].lower()}@{domain}"


def _credentials(user: User, previous: dict[str, Any] | None) -> dict[str, str]:
    """The user's demo password and token: the previous ones if they still work, else new."""
    password = (previous or {}).get("password")
    if not (isinstance(password, str) and user.check_password(password)):
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
    token = (previous or {}).get("token")
    try:
        if not isinstance(token, str):
            raise AuthenticationFailed("no previous token")
        found_user, _ = TokenAuthentication().authenticate_credentials(token.encode())
        if found_user.pk != user.pk:
            raise AuthenticationFailed("token of another user")
    except AuthenticationFailed:
        token = api_token_create(user=user)
    return {"email": user.email, "password": password, "token": token}


def _user(org: Organization, email: str, full_name: str, role: Role) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email, None, full_name=full_name, organization=org, role=role
        )
    return user


def seed_demo(previous: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Create what is missing and return the ``orgs`` part of ``.run/demo.json``."""
    before = {
        user["email"]: user
        for org in (previous or {}).get("orgs", [])
        for user in [org.get("admin", {}), *org.get("agents", []), *org.get("customers", [])]
        if isinstance(user, dict) and "email" in user
    }
    before_bots = {
        org.get("slug"): org.get("bot_api_key") for org in (previous or {}).get("orgs", [])
    }
    result = []
    for spec in DEMO_ORGS:
        with transaction.atomic():
            org, _ = Organization.objects.get_or_create(
                slug=spec.slug, defaults={"name": spec.name}
            )
            domain = f"{spec.slug}.example"
            admin = _user(org, f"admin@{domain}", f"{spec.name} Admin", Role.ADMIN)
            agents = [_user(org, _email(n, domain), n, Role.AGENT) for n in spec.agents]
            customers = [
                _user(org, _email(n, f"customers.{domain}"), n, Role.CUSTOMER)
                for n in spec.customers
            ]
            bot = _user(org, f"bot@{domain}", f"{spec.name} Bot", Role.BOT)
            bot_key = _credentials(bot, {"token": before_bots.get(spec.slug)})["token"]
            entry = {
                "slug": org.slug,
                "name": org.name,
                "admin": _credentials(admin, before.get(admin.email)),
                "agents": [_credentials(a, before.get(a.email)) for a in agents],
                "customers": [_credentials(c, before.get(c.email)) for c in customers],
                "bot_api_key": bot_key,
            }
        if not Ticket.objects.filter(organization=org).exists():
            for customer, (subject, description, priority) in zip(
                customers, spec.tickets, strict=True
            ):
                ticket_create(
                    requester=customer,
                    subject=subject,
                    description=description,
                    priority=Priority(priority),
                )
        result.append(entry)
    return result
