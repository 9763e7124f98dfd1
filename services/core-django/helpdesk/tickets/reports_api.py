"""Read-only views across tickets: tags, the dashboard's counters, the AI's corrections."""

import csv
import io
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.common.permissions import require_admin, require_staff
from helpdesk.tickets import cache
from helpdesk.tickets.api import TICKET_PERMISSIONS
from helpdesk.tickets.models import Tag, Ticket, TriageCorrection
from helpdesk.tickets.services import OPEN_STATUSES

BREACHING_SOON = timedelta(hours=1)


class TagListApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        responses=inline_serializer(
            "TagCount",
            {"name": serializers.CharField(), "tickets": serializers.IntegerField()},
            many=True,
        ),
        summary="The organization's tags, most used first",
    )
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        require_staff(user, "list tags")
        tags = (
            Tag.objects.filter(organization_id=user.organization_id or 0)
            .annotate(count=Count("tickets"))
            .order_by("-count", "name")[:500]
        )
        return Response([{"name": t.name, "tickets": t.count} for t in tags])


def counters_compute(*, organization_id: int, user_id: int) -> dict[str, Any]:
    """Open tickets per queue and status, unassigned, yours, and SLA breaching within an hour:
    two aggregate queries."""
    open_tickets = Ticket.objects.filter(organization_id=organization_id, status__in=OPEN_STATUSES)
    per_queue = list(
        open_tickets.values("queue_id", "queue__name")
        .annotate(open=Count("id"), new=Count("id", filter=Q(status="new")))
        .order_by("queue__name")
    )
    soon = timezone.now() + BREACHING_SOON
    totals = open_tickets.aggregate(
        open=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        mine=Count("id", filter=Q(assignee_id=user_id)),
        breaching_soon=Count("id", filter=Q(sla__next_breach_at__lte=soon)),
    )
    return {
        **totals,
        "queues": [
            {
                "id": row["queue_id"],
                "name": row["queue__name"],
                "open": row["open"],
                "new": row["new"],
            }
            for row in per_queue
        ],
    }


class CountersApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        responses=inline_serializer(
            "Counters",
            {
                "open": serializers.IntegerField(),
                "unassigned": serializers.IntegerField(),
                "mine": serializers.IntegerField(),
                "breaching_soon": serializers.IntegerField(),
                "queues": serializers.ListField(child=serializers.DictField()),
            },
        ),
        summary="The dashboard's counters (cached; refreshed by every ticket change)",
    )
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        require_staff(user, "see the dashboard's counters")
        key, cached = cache.document_lookup(user=user, name=f"counters:{user.pk}")
        if cached is not None:
            return Response(cached)
        body = counters_compute(organization_id=user.organization_id or 0, user_id=user.pk)
        if key:
            cache.document_put(key, body)
        return Response(body)


class CorrectionsApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        parameters=[
            OpenApiParameter("field", str, enum=["category", "priority"]),
            OpenApiParameter(
                "as", str, enum=["json", "csv"], description="csv: a file to train on"
            ),
        ],
        responses=inline_serializer(
            "TrainingExample",
            {"text": serializers.CharField(), "label": serializers.CharField()},
            many=True,
        ),
        summary="Agents' corrections of the AI, as training examples (text, label)",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        user: User = request.user  # type: ignore[assignment]
        require_admin(user, "export training examples")
        field = request.query_params.get("field", "category")
        if field not in ("category", "priority"):
            raise ValidationError({"field": ["Use category or priority."]})
        # Not ?format=, which DRF keeps for its own content negotiation.
        output = request.query_params.get("as", "json")
        if output not in ("json", "csv"):
            raise ValidationError({"as": ["Use json or csv."]})
        # The latest correction of each ticket wins (an agent may change their mind).
        latest: dict[int, dict[str, Any]] = {}
        rows = (
            TriageCorrection.objects.filter(organization_id=user.organization_id or 0, field=field)
            .select_related("ticket")
            .order_by("id")
        )
        for row in rows.iterator(chunk_size=1000):
            text = f"{row.ticket.subject}\n{row.ticket.description}".strip()
            latest[row.ticket_id] = {
                "text": text,
                "label": row.corrected,
                "predicted": row.predicted,
                "model": row.model,
            }
        examples = list(latest.values())
        if output == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=["text", "label"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(examples)
            return HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        return Response(examples)
