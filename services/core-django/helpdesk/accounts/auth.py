"""Bearer API tokens (personal tokens and bot keys), hashed at rest by django-rest-knox."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions


class BearerTokenAuthentication(TokenAuthentication):  # type: ignore[misc]
    """knox's authentication, refusing users that belong to no organization.

    Every API call is scoped to the caller's organization; a token of a platform superuser
    without one has no tenant to act in.
    """

    def authenticate(self, request: HttpRequest) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None and result[0].organization_id is None:
            raise exceptions.AuthenticationFailed("This account belongs to no organization.")
        return result  # type: ignore[no-any-return]

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Refuse (and delete) this token if it expired.

        knox also sweeps every other token of the user on every request: one more query per
        API call for work that belongs in a periodic job, not on the hot path.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
