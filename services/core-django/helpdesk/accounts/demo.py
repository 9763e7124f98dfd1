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

from helpdesk.accounts.models import Company, Organization, Role, User
from helpdesk.accounts.services import api_token_create
from helpdesk.sla.demo import sla_demo_setup
from helpdesk.tickets.models import AssignmentStrategy, Macro, Priority, Queue, Ticket
from helpdesk.tickets.services import comment_create, ticket_create, ticket_merge
from helpdesk.webhooks.demo import webhooks_demo_setup
from helpdesk_shared.tokens import ALL_SCOPES


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


def _token(user: User, token: object, scopes: tuple[str, ...] = ()) -> str:
    """The previous API token if it still authenticates ``user``, else a new one."""
    try:
        if not isinstance(token, str):
            raise AuthenticationFailed("no previous token")
        found_user, _ = TokenAuthentication().authenticate_credentials(token.encode())
        if found_user.pk != user.pk:
            raise AuthenticationFailed("token of another user")
    except AuthenticationFailed:
        return api_token_create(user=user, name="demo", scopes=scopes)
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
            bot_key = _token(bot, before_bots.get(spec.slug), scopes=ALL_SCOPES)
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
            _lived_in(org, admin=admin, agents=agents, customers=customers, spec=spec)
        result.append(entry)
    return result


def _lived_in(
    org: Organization, *, admin: User, agents: list[User], customers: list[User], spec: DemoOrg
) -> None:
    """What makes the demo look used: SLA policies on business hours, queues that assign and
    that the AI routes into, macros, a company sharing its tickets, conversations with replies
    and internal notes, tags, a merged duplicate and a webhook endpoint (disabled)."""
    sla_demo_setup(org)
    webhooks_demo_setup(org)
    billing = Queue.objects.create(
        organization=org,
        name="Billing",
        assignment=AssignmentStrategy.ROUND_ROBIN,
        categories=["billing", "refund_return"],
    )
    technical = Queue.objects.create(
        organization=org,
        name="Technical",
        assignment=AssignmentStrategy.LEAST_OPEN,
        categories=["technical_issue", "bug_report", "account_access"],
    )
    Queue.objects.create(
        organization=org, name="Orders", categories=["shipping_delivery", "general_inquiry"]
    )
    billing.members.set(agents)
    technical.members.set(agents[1:] or agents)
    Macro.objects.create(
        organization=org,
        name="Ask for the order number",
        body="Hi {{requester.first_name}}, could you send us your order number so we can look "
        "into ticket #{{ticket.number}}? Thanks, {{agent.name}}",
        actions={"status": "pending"},
    )
    Macro.objects.create(
        organization=org,
        name="Solved, thanks",
        body="Glad we could help, {{requester.first_name}}! Reply here if anything comes up.",
        actions={"status": "solved"},
    )
    company = Company.objects.create(
        organization=org, name=f"{spec.name} Partners", shares_tickets=True
    )
    for customer in customers:
        customer.company = company
        customer.save(update_fields=["company"])
    for index, (customer, (subject, description, priority)) in enumerate(
        zip(customers, spec.tickets, strict=True)
    ):
        queue = billing if index % 2 else technical
        ticket = ticket_create(
            requester=customer,
            subject=subject,
            description=description,
            priority=Priority(priority),
            queue=queue,
            tags=["demo", "vip" if index == 0 else "web"],
        )
        agent = ticket.assignee or agents[0]
        comment_create(
            ticket_id=ticket.pk,
            author=agent,
            body=f"Hi {customer.full_name.split()[0]}, thanks for writing in - looking at it now.",
        )
        comment_create(
            ticket_id=ticket.pk,
            author=agent,
            body="Checked the account history; nothing unusual yet.",
            public=False,
        )
        comment_create(ticket_id=ticket.pk, author=customer, body="Thanks, waiting for news.")
    duplicate = ticket_create(
        requester=customers[0],
        subject=f"Re: {spec.tickets[0][0]}",
        description="Sending this again in case the first one got lost.",
    )
    first = Ticket.objects.filter(organization=org).order_by("number").first()
    if first is not None:
        ticket_merge(source=duplicate, target=first, actor=admin)
