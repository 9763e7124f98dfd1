"""Account endpoints: who am I, and a token for the realtime service."""

from datetime import UTC, datetime

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.accounts.services import realtime_token_issue


class MeApi(APIView):
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
