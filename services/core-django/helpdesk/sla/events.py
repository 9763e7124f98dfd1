"""The events SLAs emit (``sla.warning``, ``sla.breached``), built from the shared schemas."""

from datetime import datetime
from typing import Literal

from helpdesk.sla.clock import Metric
from helpdesk.tickets.models import Ticket
from helpdesk_shared import Actor, SlaBreached, SlaData, SlaWarning, uuid7


def sla_alert(
    *,
    kind: Literal["warning", "breached"],
    ticket: Ticket,
    metric: Metric,
    occurred_at: datetime,
    due_at: datetime,
    target_minutes: int,
    elapsed_share: float,
) -> SlaWarning | SlaBreached:
    """For agents and admins only (audience "staff"); the system is the actor."""
    data = SlaData(
        number=ticket.number,
        metric=metric,
        due_at=due_at,
        target_minutes=target_minutes,
        elapsed_share=round(max(elapsed_share, 0.0), 4),
    )
    event_class = SlaWarning if kind == "warning" else SlaBreached
    return event_class(
        id=uuid7(),
        occurred_at=occurred_at,
        organization_id=ticket.organization_id,
        ticket_id=ticket.pk,
        actor=Actor(kind="system"),
        audience="staff",
        requester_id=ticket.requester_id,
        # Tickets gain queues in the same release; route by it once the field is there.
        queue_id=getattr(ticket, "queue_id", None),
        data=data,
    )
