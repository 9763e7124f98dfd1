"""Ticket endpoints. Thin: validate, call a service or selector, serialize."""

import re
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import Role, User
from helpdesk.common.pagination import NewestFirstCursorPagination
from helpdesk.tickets import cache
from helpdesk.tickets.models import Channel, Ticket
from helpdesk.tickets.selectors import (
    ticket_list_visible,
    ticket_row_public,
    ticket_rows_visible,
)
from helpdesk.tickets.serializers import (
    TicketCreateSerializer,
    TicketPublicSerializer,
    TicketUpdateSerializer,
)
from helpdesk.tickets.services import (
    InvalidTransitionError,
    StaleTicketError,
    ticket_create,
    ticket_update,
)
from helpdesk_kit.errors import error_body
from helpdesk_kit.request_id import current_request_id


class TicketListCreateApi(APIView):
    pagination_class = NewestFirstCursorPagination  # for the OpenAPI document

    @extend_schema(responses=TicketPublicSerializer(many=True), summary="Tickets you may see")
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        key = cache.list_page_key(user=user, query=request.META.get("QUERY_STRING", ""))
        cached = cache.list_page_get(key) if key else None
        if cached is not None:
            return Response(cached)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(ticket_rows_visible(user=user), request, view=self)
        response = paginator.get_paginated_response([ticket_row_public(row) for row in page or []])
        if key:
            cache.list_page_put(key, response.data)
        return response

    @extend_schema(
        request=TicketCreateSerializer,
        responses={201: TicketPublicSerializer},
        summary="Open a ticket (emits ticket.created)",
    )
    def post(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        serializer = TicketCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = ticket_create(
            requester=user,
            channel=Channel.API if isinstance(request.auth, AuthToken) else Channel.WEB,
            **serializer.validated_data,
        )
        return Response(TicketPublicSerializer(ticket).data, status=status.HTTP_201_CREATED)


def etag(ticket: Ticket) -> str:
    """The ETag of a ticket's version, for If-Match on writes (optimistic concurrency)."""
    return f'"v{ticket.version}"'


def expected_version(request: Request) -> int | None:
    """The version an If-Match names; None without the header (or with ``*``), -1 if garbled."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    match = re.fullmatch(r'(?:W/)?"v(\d{1,9})"', header)
    return int(match.group(1)) if match else -1


class TicketDetailApi(APIView):
    @extend_schema(responses=TicketPublicSerializer, summary="One ticket, by its number")
    def get(self, request: Request, number: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        ticket = get_object_or_404(ticket_list_visible(user=user), number=number)
        return Response(TicketPublicSerializer(ticket).data, headers={"ETag": etag(ticket)})

    @extend_schema(
        request=TicketUpdateSerializer,
        responses={200: TicketPublicSerializer},
        summary="Change a ticket (emits ticket.updated); send If-Match with its ETag",
    )
    def patch(self, request: Request, number: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        ticket = get_object_or_404(ticket_list_visible(user=user), number=number)
        if user.role == Role.CUSTOMER:
            raise PermissionDenied("Customers cannot change a ticket's fields.")
        serializer = TicketUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            ticket = ticket_update(
                ticket_id=ticket.pk,
                actor=user,
                changes=serializer.validated_data,
                expected_version=expected_version(request),
            )
        except StaleTicketError as stale:
            return _stale(stale.ticket)
        except InvalidTransitionError as exc:
            raise ValidationError({"status": [str(exc)]}) from exc
        return Response(TicketPublicSerializer(ticket).data, headers={"ETag": etag(ticket)})


def _stale(ticket: Ticket) -> Response:
    """412 in the error shape, with the ticket as it is now, so the agent can review first."""
    body: dict[str, Any] = dict(
        error_body(
            "precondition_failed",
            "This ticket changed since you loaded it; review the current version and retry.",
            current_request_id(),
        )
    )
    body["current"] = TicketPublicSerializer(ticket).data
    return Response(
        body, status=status.HTTP_412_PRECONDITION_FAILED, headers={"ETag": etag(ticket)}
    )
