"""Where realtime keeps agents' presence in Redis, so that core can read it (assignment).

Realtime writes; core only reads. An agent is online while their last heartbeat is younger than
``PRESENCE_TTL_SECONDS``; ``status`` is what the agent chose ("online" or "away").
"""

from typing import Final, Literal

PRESENCE_TTL_SECONDS: Final = 60

AgentStatus = Literal["online", "away"]


def agents_seen_key(organization_id: int) -> str:
    """Sorted set: member = user id (decimal string), score = last heartbeat (unix seconds)."""
    return f"helpdesk:presence:org:{organization_id}:seen"


def agents_status_key(organization_id: int) -> str:
    """Hash: field = user id (decimal string), value = the agent's chosen status."""
    return f"helpdesk:presence:org:{organization_id}:status"


__all__ = ["PRESENCE_TTL_SECONDS", "AgentStatus", "agents_seen_key", "agents_status_key"]
