"""Who may call what: roles, and the scopes of API tokens.

Objects of another organization are never found (404), so a caller cannot learn that they exist;
a role that may see an object but not change it gets 403.
"""

from typing import Any

from knox.models import AuthToken
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from helpdesk.accounts.models import ApiTokenInfo, Role, User


def token_scopes(request: Request) -> list[str] | None:
    """The scopes of the API token that authenticated the request; None for a session or an
    unscoped personal token (which act with the user's role)."""
    auth = request.auth
    if not isinstance(auth, AuthToken):
        return None
    # Read (and its use recorded) by BearerTokenAuthentication, which set it.
    cached: ApiTokenInfo | None = getattr(request, "_token_info", None)
    if cached is None or not cached.scopes:
        return None
    return list(cached.scopes)


class TicketScopes(BasePermission):
    """A scoped token reads with ``tickets:read`` and writes with ``tickets:write``."""

    message = "This API token lacks the scope this call needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        scopes = token_scopes(request)
        if scopes is None:
            return True
        needed = "tickets:read" if request.method in SAFE_METHODS else "tickets:write"
        return needed in scopes


def require_staff(user: User, action: str = "do this") -> None:
    if not (user.is_staff_member or user.role == Role.BOT):
        raise PermissionDenied(f"Only agents and admins can {action}.")


def require_agent(user: User, action: str = "do this") -> None:
    """People who work tickets (agents and admins; not bots, not customers)."""
    if not user.is_staff_member:
        raise PermissionDenied(f"Only agents and admins can {action}.")


def require_admin(user: User, action: str = "do this") -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied(f"Only admins can {action}.")
