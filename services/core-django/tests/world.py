"""Two organizations with one of everything, for tests that ask "who may do what, where"."""

from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.accounts.services import api_token_create
from helpdesk.tickets.models import AssignmentStrategy, Comment, Macro, Queue, SavedView, Ticket
from helpdesk.tickets.services import NewAttachment, comment_create, ticket_create
from tests.factories import make_org, make_user

ROLES = (Role.ADMIN, Role.AGENT, Role.CUSTOMER, Role.BOT)


@dataclass
class Tenant:
    org: Organization
    users: dict[Role, User]
    tokens: dict[Role, str]
    queue: Queue
    macro: Macro
    ticket: Ticket
    second: Ticket
    reply: Comment
    note: Comment
    views: dict[Role, SavedView] = field(default_factory=dict)

    def client(self, role: Role) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client


def make_tenant(slug: str, skip_numbers: int = 0) -> Tenant:
    """``skip_numbers``: tickets numbers are per organization; skipping some makes this
    tenant's numbers ones the other tenant does not have, so a cross-tenant test is one."""
    org = make_org(slug)
    org.last_ticket_number = skip_numbers
    org.save()
    users = {role: make_user(org, role) for role in ROLES}
    tokens = {role: api_token_create(user=user) for role, user in users.items()}
    queue = Queue.objects.create(
        organization=org, name="Billing", assignment=AssignmentStrategy.MANUAL
    )
    queue.members.add(users[Role.AGENT])
    macro = Macro.objects.create(
        organization=org,
        name="Thanks",
        body="Hi {{requester.first_name}}, thanks for ticket #{{ticket.number}}.",
        actions={"status": "pending"},
    )
    customer = users[Role.CUSTOMER]
    ticket = ticket_create(requester=customer, subject="Refund", description="Card charged twice")
    second = ticket_create(requester=customer, subject="Also", description="Same problem")
    reply = comment_create(
        ticket_id=ticket.pk,
        author=users[Role.AGENT],
        body="We are on it",
        attachments=[
            NewAttachment(
                file=SimpleUploadedFile("receipt.txt", b"paid 10 EUR"),
                name="receipt.txt",
                size=11,
                content_type="text/plain",
            )
        ],
    )
    note = comment_create(
        ticket_id=ticket.pk, author=users[Role.AGENT], body="VIP, be nice", public=False
    )
    views = {
        role: SavedView.objects.create(user=user, name="Mine", filters={"status": "open"})
        for role, user in users.items()
    }
    ticket.refresh_from_db()
    return Tenant(org, users, tokens, queue, macro, ticket, second, reply, note, views)
