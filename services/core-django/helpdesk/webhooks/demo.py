"""Demo data for ``make run``: a webhook endpoint the admin can look at, and enable."""

from helpdesk.accounts.models import Organization
from helpdesk.webhooks.models import WebhookEndpoint
from helpdesk.webhooks.services import endpoint_create

# Nothing listens here (port 9 is "discard"); the endpoint is created disabled, so the worker
# sends nothing until an admin points it at a receiver of theirs and enables it.
DEMO_URL = "http://127.0.0.1:9/helpdesk-webhook"
DEMO_DESCRIPTION = "Demo: point me at your receiver, then enable me (POST …/enable)."


def webhooks_demo_setup(organization: Organization) -> WebhookEndpoint:
    """The organization's demo endpoint, created once (idempotent)."""
    existing = WebhookEndpoint.objects.filter(
        organization=organization, description=DEMO_DESCRIPTION
    ).first()
    if existing is not None:
        return existing
    return endpoint_create(
        organization_id=organization.pk,
        url=DEMO_URL,
        event_types=["ticket.created", "ticket.updated", "comment.created"],
        description=DEMO_DESCRIPTION,
        is_active=False,
    )
