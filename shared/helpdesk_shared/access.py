"""Service-to-service calls to core, made with the service credential.

Other services call core with ``Authorization: Bearer <HELPDESK_SERVICE_TOKEN>`` (a secret shared
by the deployment's services, never a user's token). Core is the only judge of who may see what:
realtime asks it before letting a connection into a ticket or queue room.
"""

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SERVICE_TOKEN_ENV: Final = "HELPDESK_SERVICE_TOKEN"  # noqa: S105 (the variable's name)

ROOM_ACCESS_PATH: Final = "/api/v1/internal/room-access"


class RoomAccessRequest(BaseModel):
    """May this user join the room of this ticket or queue?"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: int
    kind: Literal["ticket", "queue"]
    id: int = Field(ge=1)


class RoomAccess(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    # Set when allowed: the room's organization (a check for the caller) and, for a ticket,
    # the ticket's number (what the dashboard shows).
    organization_id: int | None = None
    number: int | None = None
    reason: str = ""


__all__ = ["ROOM_ACCESS_PATH", "SERVICE_TOKEN_ENV", "RoomAccess", "RoomAccessRequest"]
