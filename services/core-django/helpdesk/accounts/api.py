"""Account endpoints: who am I, and a token for the realtime service."""

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.accounts.services import realtime_token_issue

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
        "organization": _Organization,
    },
)
_RealtimeToken = inline_serializer(
    "RealtimeToken", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
)


class MeApi(APIView):
    @extend_schema(responses=_Me, summary="The caller and their organization")
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        org = user.organization
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "full_name": user.full_name,
                "role": user.role,
                "organization": {"id": org.pk, "slug": org.slug, "name": org.name} if org else None,
            }
        )


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
