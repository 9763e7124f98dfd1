"""Bearer API tokens (personal tokens and bot keys), hashed at rest by django-rest-knox."""

from typing import Any

from django.http import HttpRequest
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
