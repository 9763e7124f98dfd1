"""Account endpoints: who am I, and a token for the realtime service."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.authentication import CSRFCheck
from rest_framework.exceptions import (
    APIException,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import Availability, Role, User
from helpdesk.accounts.services import (
    api_token_create,
    api_token_revoke,
    availability_set,
    realtime_token_issue,
)
from helpdesk.common.ratelimit import login_check, too_many
from helpdesk.common.serializers import StrictSerializer
from helpdesk_shared.tokens import ALL_SCOPES

_Organization = inline_serializer(
    "Organization",
    {
        "id": serializers.IntegerField(),
        "slug": serializers.CharField(),
        "name": serializers.CharField(),
    },
)
_Me = inline_serializer(
    "Me",
    {
        "id": serializers.IntegerField(),
        "email": serializers.EmailField(),
        "full_name": serializers.CharField(),
        "role": serializers.ChoiceField(choices=["admin", "agent", "customer", "bot"]),
        "availability": serializers.ChoiceField(choices=["available", "away"]),
        "organization": _Organization,
    },
)
_RealtimeToken = inline_serializer(
    "RealtimeToken", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
)


def _me(user: User) -> dict[str, Any]:
    org = user.organization
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "availability": user.availability,
        "organization": {"id": org.pk, "slug": org.slug, "name": org.name} if org else None,
    }


class MeUpdateSerializer(StrictSerializer):
    full_name = serializers.CharField(max_length=200, required=False)
    availability = serializers.ChoiceField(choices=Availability.choices, required=False)


class MeApi(APIView):
    @extend_schema(responses=_Me, summary="The caller and their organization")
    def get(self, request: Request) -> Response:
        return Response(_me(request.user))  # type: ignore[arg-type]

    @extend_schema(
        request=MeUpdateSerializer,
        responses=_Me,
        summary="Change your name, or mark yourself away (skipped by auto-assignment)",
    )
    def patch(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        serializer = MeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "availability" in data:
            availability_set(user=user, availability=data["availability"])
        if "full_name" in data:
            user.full_name = data["full_name"]
            user.save(update_fields=["full_name"])
        return Response(_me(user))


class RealtimeTokenApi(APIView):
    @extend_schema(
        request=None,
        responses={201: _RealtimeToken},
        summary="A short-lived token for a Socket.IO connection to realtime",
    )
    def post(self, request: Request) -> Response:
        token, expires = realtime_token_issue(user=request.user)  # type: ignore[arg-type]
        return Response(
            {
                "token": token,
                "expires_at": datetime.fromtimestamp(expires, tz=UTC).isoformat(),
            },
            status=201,
            headers={"Cache-Control": "no-store"},
        )


# --- Browser sessions -------------------------------------------------------------------------


def _enforce_csrf(request: Request) -> None:
    """The login form is protected against login CSRF like every other session write."""
    check = CSRFCheck(lambda req: HttpResponse())
    check.process_request(request._request)
    reason = check.process_view(request._request, lambda req: HttpResponse(), (), {})
    if reason is not None:
        raise PermissionDenied("CSRF check failed: GET /api/v1/auth/csrf, then send X-CSRFToken.")


class LoginFailed(APIException):
    status_code = 401
    default_code = "invalid_credentials"
    default_detail = "The email or the password is wrong."


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=200, trim_whitespace=False)


class CsrfApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        responses=inline_serializer("Csrf", {"csrf_token": serializers.CharField()}),
        summary="A CSRF token (and its cookie) for the browser's session calls",
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"csrf_token": get_token(request._request)}, headers={"Cache-Control": "no-store"}
        )


class LoginApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=LoginSerializer,
        responses={200: _Me},
        summary="Sign in (a session cookie; 5 attempts per minute)",
    )
    def post(self, request: Request) -> Response:
        _enforce_csrf(request)
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        verdict = login_check(request._request, email)
        if verdict is not None and not verdict.allowed:
            return too_many(verdict, "Too many sign-in attempts; wait a minute.")  # type: ignore[return-value]
        user = authenticate(
            request._request, username=email.lower(), password=serializer.validated_data["password"]
        )
        if user is None or user.organization_id is None:
            raise LoginFailed()
        login(request._request, user)
        return Response(_me(user))


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None}, summary="Sign out")
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=204)


# --- API tokens -------------------------------------------------------------------------------


class TokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ALL_SCOPES)), required=False, default=list
    )
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    user = serializers.IntegerField(
        required=False, help_text="admins: issue the token for a bot of the organization"
    )


_TOKEN_FIELDS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "id": serializers.CharField(),
    "name": serializers.CharField(),
    "scopes": serializers.ListField(child=serializers.CharField()),
    "user": serializers.IntegerField(),
    "created": serializers.DateTimeField(),
    "expires_at": serializers.DateTimeField(allow_null=True),
    "last_used_at": serializers.DateTimeField(allow_null=True),
}
_TOKENS = inline_serializer("ApiToken", _TOKEN_FIELDS, many=True)


def _token_row(token: AuthToken) -> dict[str, Any]:
    info = getattr(token, "info", None)
    return {
        "id": token.token_key,
        "name": info.name if info else "",
        "scopes": info.scopes if info else [],
        "user": token.user_id,
        "created": token.created,
        "expires_at": token.expiry,
        "last_used_at": info.last_used_at if info else None,
    }


def _tokens_visible(user: User) -> "QuerySet[AuthToken]":
    """Your own tokens; admins also the tokens of their organization's bots."""
    tokens: QuerySet[AuthToken] = AuthToken.objects.select_related("info").order_by("-created")
    if user.role == Role.ADMIN:
        return tokens.filter(
            Q(user=user) | Q(user__organization_id=user.organization_id, user__role=Role.BOT)
        )
    return tokens.filter(user=user)


class TokenListApi(APIView):
    @extend_schema(responses=_TOKENS, summary="Your API tokens (never the secrets)")
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        return Response([_token_row(t) for t in _tokens_visible(user)])

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: inline_serializer("NewApiToken", {"token": serializers.CharField()})},
        summary="Create an API token (shown once); admins may create one for a bot",
    )
    def post(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        if user.role == Role.CUSTOMER:
            raise PermissionDenied("Customers cannot create API tokens.")
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = user
        if "user" in data and data["user"] != user.pk:
            if user.role != Role.ADMIN:
                raise PermissionDenied("Only admins can create tokens for bots.")
            bot = User.objects.filter(
                pk=data["user"], organization_id=user.organization_id or 0, role=Role.BOT
            ).first()
            if bot is None:
                raise ValidationError({"user": ["No bot of your organization has this id."]})
            owner = bot
        days = data.get("expires_in_days")
        token = api_token_create(
            user=owner,
            name=data["name"],
            scopes=data["scopes"],
            expires_in=timedelta(days=days) if days else None,
        )
        created = AuthToken.objects.select_related("info").get(digest=hash_token(token))
        return Response(
            {"token": token, **_token_row(created)},
            status=201,
            headers={"Cache-Control": "no-store"},
        )


class TokenDetailApi(APIView):
    @extend_schema(
        responses={204: None}, summary="Revoke an API token (other services within a minute)"
    )
    def delete(self, request: Request, token_id: str) -> Response:
        user: User = request.user  # type: ignore[assignment]
        token = _tokens_visible(user).filter(token_key=token_id).first()
        if token is None:
            raise NotFound("You have no token with this id.")
        api_token_revoke(token=token)
        return Response(status=204)
