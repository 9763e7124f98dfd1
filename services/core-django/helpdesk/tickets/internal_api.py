"""Endpoints other services call with the service credential (never users): the AI's triage
verdicts and realtime's room checks. Core stays the only judge of who may see what."""

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema, inline_serializer
from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import User
from helpdesk.tickets.models import Queue, Ticket
from helpdesk.tickets.selectors import ticket_list_visible
from helpdesk.tickets.services import triage_apply
from helpdesk_kit.errors import pydantic_details
from helpdesk_shared.access import RoomAccess, RoomAccessRequest
from helpdesk_shared.triage import TriageVerdict


class ServicePrincipal:
    """The caller of an internal endpoint: another service of this deployment."""

    is_authenticated = True
    is_active = True
    pk = None
    organization_id = None
    role = "service"


class ServiceTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: HttpRequest) -> tuple[ServicePrincipal, str] | None:
        expected = settings.HELPDESK_SERVICE_TOKEN
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return None
        if not expected or not hmac.compare_digest(header[7:].encode(), expected.encode()):
            raise exceptions.AuthenticationFailed("This is not the service credential.")
        return ServicePrincipal(), "service"

    def authenticate_header(self, request: HttpRequest) -> str:
        return "Bearer"


class IsService(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, ServicePrincipal)


def _parse(model: Any, data: Any) -> Any:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise exceptions.ValidationError(pydantic_details(exc.errors())) from exc


class _Internal(APIView):
    authentication_classes = (ServiceTokenAuthentication,)
    permission_classes = (IsService,)


class TriageApi(_Internal):
    @extend_schema(
        request=inline_serializer("TriageVerdict", {"event_id": serializers.UUIDField()}),
        responses=inline_serializer(
            "TriageResult",
            {
                "ticket": serializers.IntegerField(),
                "applied": serializers.BooleanField(),
                "version": serializers.IntegerField(),
            },
        ),
        summary="The AI's verdict on a ticket (service credential; idempotent per event)",
    )
    def post(self, request: Request) -> Response:
        verdict: TriageVerdict = _parse(TriageVerdict, request.data)
        try:
            ticket, applied = triage_apply(verdict=verdict)
        except Ticket.DoesNotExist:
            raise exceptions.NotFound("No such ticket in this organization.") from None
        return Response({"ticket": ticket.number, "applied": applied, "version": ticket.version})


class RoomAccessApi(_Internal):
    @extend_schema(
        request=inline_serializer("RoomAccessRequest", {"user_id": serializers.IntegerField()}),
        responses=inline_serializer("RoomAccess", {"allowed": serializers.BooleanField()}),
        summary="May this user join this ticket's or queue's room? (service credential)",
    )
    def post(self, request: Request) -> Response:
        ask: RoomAccessRequest = _parse(RoomAccessRequest, request.data)
        user = User.objects.select_related("company").filter(pk=ask.user_id, is_active=True).first()
        if user is None or user.organization_id is None:
            return Response(RoomAccess(allowed=False, reason="unknown user").model_dump())
        if ask.kind == "ticket":
            ticket = ticket_list_visible(user=user).filter(pk=ask.id).values("number").first()
            if ticket is None:
                return Response(RoomAccess(allowed=False, reason="no such ticket").model_dump())
            return Response(
                RoomAccess(
                    allowed=True, organization_id=user.organization_id, number=ticket["number"]
                ).model_dump()
            )
        if not (user.is_staff_member or user.role == "bot"):
            return Response(RoomAccess(allowed=False, reason="queues are for staff").model_dump())
        if not Queue.objects.filter(pk=ask.id, organization_id=user.organization_id).exists():
            return Response(RoomAccess(allowed=False, reason="no such queue").model_dump())
        return Response(RoomAccess(allowed=True, organization_id=user.organization_id).model_dump())
