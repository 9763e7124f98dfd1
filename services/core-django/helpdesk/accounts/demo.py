"""The demo data ``make run`` seeds: two organizations, each with an admin, agents, customers,
a bot and a few tickets. Idempotent: running it again changes nothing that is already there,
and credentials from the previous run are kept while they still work. Passwords and tokens are
made on the machine that runs it; none is written in the code.
"""

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import check_password
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


def _still_valid(users: list[User], before: dict[str, dict[str, Any]]) -> set[str]:
    """Emails whose previous demo password still works.

    PBKDF2 is slow on purpose (half a second each here); the checks are pure CPU and release
    the GIL, so they run side by side rather than one after another on every ``make run``.
    """

    def works(user: User) -> bool:
        password = before.get(user.email, {}).get("password")
        return isinstance(password, str) and check_password(password, user.password)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return {u.email for u, ok in zip(users, pool.map(works, users), strict=True) if ok}


def _token(user: User, token: object) -> str:
    """The previous API token if it still authenticates ``user``, else a new one."""
    try:
        if not isinstance(token, str):
            raise AuthenticationFailed("no previous token")
        found_user, _ = TokenAuthentication().authenticate_credentials(token.encode())
        if found_user.pk != user.pk:
            raise AuthenticationFailed("token of another user")
    except AuthenticationFailed:
        return api_token_create(user=user)
    return token


def _credentials(user: User, previous: dict[str, Any] | None, *, valid: bool) -> dict[str, str]:
    """The user's demo password and token: the previous ones if they still work, else new."""
    password = (previous or {}).get("password")
    if not (valid and isinstance(password, str)):
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
    return {
        "email": user.email,
        "password": password,
        "token": _token(user, (previous or {}).get("token")),
    }


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
            # The bot has no password: it signs in with its key only.
            bot_key = _token(bot, before_bots.get(spec.slug))
            valid = _still_valid([admin, *agents, *customers], before)

            def creds(user: User, valid: set[str] = valid) -> dict[str, str]:
                return _credentials(user, before.get(user.email), valid=user.email in valid)

            entry = {
                "slug": org.slug,
                "name": org.name,
                "admin": creds(admin),
                "agents": [creds(a) for a in agents],
                "customers": [creds(c) for c in customers],
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
