"""The reports API: what the reports page draws (staff only; customers get 403)."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.common.permissions import require_staff
from helpdesk.dashboard.reports import DEFAULT_DAYS, MAX_DAYS, report_overview_cached
from helpdesk.tickets.api import TICKET_PERMISSIONS

_Overview = inline_serializer(
    "ReportsOverview",
    {
        "days": serializers.IntegerField(),
        "since": serializers.DateTimeField(),
        "generated_at": serializers.DateTimeField(),
        "totals": serializers.DictField(child=serializers.IntegerField()),
        "volume": serializers.DictField(),
        "response_times": serializers.ListField(child=serializers.DictField()),
        "backlog": serializers.DictField(),
        "breaches": serializers.DictField(),
        "triage": serializers.DictField(),
    },
)


def _days(raw: Any) -> int:
    if raw is None:
        return DEFAULT_DAYS
    if not str(raw).isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise ValidationError({"days": [f"A whole number of days from 1 to {MAX_DAYS}."]})
    return int(raw)


class ReportsOverviewApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description=f"1-{MAX_DAYS}, default 14")],
        responses=_Overview,
        summary="Reports: volume, response times vs SLA targets, backlog, breaches, AI triage",
    )
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        require_staff(user, "see reports")
        unknown = sorted(set(request.query_params) - {"days"})
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in unknown})
        return Response(
            report_overview_cached(user=user, days=_days(request.query_params.get("days")))
        )
