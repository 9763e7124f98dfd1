"""Room names, who may be in which room, and which rooms an event goes to.

Two kinds of rooms, so that a staff-only event can never reach a customer:

- **staff rooms** (``staff:org:<id>``, ``staff:queue:<id>``, ``staff:ticket:<id>``): only
  connections of staff (admins, agents, bots) ever join them; ``join_allowed`` refuses a
  customer's connection, whatever asked for it.
- **public rooms** (``user:<id>``, ``company:<id>``, ``ticket:<id>``): customers may be in them.

An event whose audience is "staff" is routed to staff rooms only (``rooms_for``), so the
Socket.IO layer has no path from an internal note to a customer's connection. The audience is
taken from the envelope and made stricter for the event types that are staff-only by nature
(an internal note, SLA warnings), in case a producer forgot to set it.
"""

from typing import Final, Literal

from helpdesk_shared import Envelope, RealtimeClaims

Kind = Literal["ticket", "queue"]
STAFF_PREFIX: Final = "staff:"
STAFF_ONLY_TYPES: Final = frozenset({"sla.warning", "sla.breached"})


def is_staff(claims: RealtimeClaims) -> bool:
    return claims.role != "customer"


def staff_org_room(organization_id: int) -> str:
    return f"staff:org:{organization_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def company_room(company_id: int) -> str:
    return f"company:{company_id}"


def kind_room(kind: Kind, ident: int, *, staff: bool) -> str:
    """The room a connection joins for a ticket or queue it subscribed to."""
    return f"{STAFF_PREFIX if staff else ''}{kind}:{ident}"


def public_name(room: str) -> str:
    """The name a client is shown (``staff:ticket:5`` -> ``ticket:5``)."""
    return room.removeprefix(STAFF_PREFIX)


def join_allowed(claims: RealtimeClaims, room: str) -> bool:
    """The last line of defence: a customer's connection is never put in a staff room."""
    return is_staff(claims) or not room.startswith(STAFF_PREFIX)


def base_rooms(claims: RealtimeClaims) -> list[str]:
    """The rooms a connection joins as soon as it is authenticated (no core call needed)."""
    rooms = [user_room(claims.user_id)]
    if is_staff(claims):
        rooms.append(staff_org_room(claims.org))
    elif claims.company is not None:
        # Core put the company in the token only if the company shares its tickets.
        rooms.append(company_room(claims.company))
    return rooms


def audience_of(envelope: Envelope) -> Literal["all", "staff"]:
    if envelope.audience == "staff" or envelope.type in STAFF_ONLY_TYPES:
        return "staff"
    if envelope.type == "comment.created" and _data(envelope, "public") is not True:
        return "staff"  # an internal note, or a comment whose visibility is unknown
    return "all"


def rooms_for(envelope: Envelope) -> list[str]:
    """Every room an event concerns: staff rooms always, public ones only for audience "all"."""
    rooms = [staff_org_room(envelope.organization_id)]
    ticket, queue = envelope.ticket_id, envelope.queue_id
    if queue is None:
        queue = _int(_data(envelope, "queue_id"))
    if queue is not None:
        rooms.append(kind_room("queue", queue, staff=True))
    if ticket is not None:
        rooms.append(kind_room("ticket", ticket, staff=True))
    if audience_of(envelope) == "staff":
        return rooms
    requester = envelope.requester_id
    if requester is None:
        requester = _int(_data(envelope, "requester_id"))
    if requester is not None:
        rooms.append(user_room(requester))
    if envelope.company_id is not None:
        rooms.append(company_room(envelope.company_id))
    if ticket is not None:
        rooms.append(kind_room("ticket", ticket, staff=False))
    return rooms


def _data(envelope: Envelope, name: str) -> object:
    data = envelope.data
    return data.get(name) if isinstance(data, dict) else getattr(data, name, None)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
