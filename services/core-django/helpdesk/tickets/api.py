"""Ticket endpoints. Thin: validate, call a service or selector, serialize."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.common.pagination import NewestFirstCursorPagination
from helpdesk.tickets import cache
from helpdesk.tickets.models import Channel
from helpdesk.tickets.selectors import (
    ticket_list_visible,
    ticket_row_public,
    ticket_rows_visible,
)
from helpdesk.tickets.serializers import TicketCreateSerializer, TicketPublicSerializer
from helpdesk.tickets.services import ticket_create


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


class TicketDetailApi(APIView):
    @extend_schema(responses=TicketPublicSerializer, summary="One ticket, by its number")
    def get(self, request: Request, number: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        ticket = get_object_or_404(ticket_list_visible(user=user), number=number)
        return Response(TicketPublicSerializer(ticket).data)
