"""SLA endpoints. Thin: check the role, validate, call a service or selector, serialize.

Admins manage their organization's calendars and policies; agents read them; customers and
bots are refused (403). Another organization's objects do not exist (404). A ticket's SLA
timeline is for agents and admins; to anyone else the address does not exist (404).
"""

from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import Role, User
from helpdesk.sla.models import BusinessCalendar, SlaPolicy
from helpdesk.sla.policies import (
    HolidayInput,
    SlaConfigError,
    SlaInUseError,
    sla_calendar_create,
    sla_calendar_delete,
    sla_calendar_update,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)
from helpdesk.sla.selectors import sla_calendar_list, sla_policy_list, sla_timeline
from helpdesk.sla.serializers import (
    CalendarListSerializer,
    CalendarPublicSerializer,
    CalendarWriteSerializer,
    PolicyListSerializer,
    PolicyPublicSerializer,
    PolicyWriteSerializer,
    SlaTimelineSerializer,
)
from helpdesk.tickets.selectors import ticket_list_visible


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


def _staff_org(request: Request, *, write: bool) -> tuple[User, int]:
    """The caller and their organization; 403 for customers, bots and agents writing."""
    user: User = request.user  # type: ignore[assignment]
    if user.organization_id is None or not user.is_staff_member:
        raise PermissionDenied("Only agents and admins see SLA settings.")
    if write and user.role != Role.ADMIN:
        raise PermissionDenied("Only admins change SLA settings.")
    return user, user.organization_id


def _config_error(exc: SlaConfigError) -> ValidationError:
    return ValidationError({exc.field: [str(exc)]})


def _holidays(data: dict[str, Any]) -> dict[str, Any]:
    if "holidays" in data:
        data["holidays"] = [HolidayInput(h["date"], h.get("name", "")) for h in data["holidays"]]
    return data


def _calendar(request: Request, pk: int, *, write: bool) -> BusinessCalendar:
    _user, organization_id = _staff_org(request, write=write)
    return get_object_or_404(sla_calendar_list(organization_id=organization_id), pk=pk)


def _calendar_body(calendar: BusinessCalendar) -> dict[str, Any]:
    calendar = sla_calendar_list(organization_id=calendar.organization_id).get(pk=calendar.pk)
    return dict(CalendarPublicSerializer(calendar).data)


class CalendarListCreateApi(APIView):
    @extend_schema(
        operation_id="v1_sla_calendars_list",
        responses=CalendarListSerializer,
        summary="Business calendars",
    )
    def get(self, request: Request) -> Response:
        _user, organization_id = _staff_org(request, write=False)
        calendars = sla_calendar_list(organization_id=organization_id)
        return Response({"results": CalendarPublicSerializer(calendars, many=True).data})

    @extend_schema(
        request=CalendarWriteSerializer,
        responses={201: CalendarPublicSerializer},
        summary="Create a business calendar (admins)",
    )
    def post(self, request: Request) -> Response:
        user, _organization_id = _staff_org(request, write=True)
        serializer = CalendarWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assert user.organization is not None
        try:
            calendar = sla_calendar_create(
                organization=user.organization, **_holidays(dict(serializer.validated_data))
            )
        except SlaConfigError as exc:
            raise _config_error(exc) from exc
        return Response(_calendar_body(calendar), status=status.HTTP_201_CREATED)


class CalendarDetailApi(APIView):
    @extend_schema(responses=CalendarPublicSerializer, summary="One business calendar")
    def get(self, request: Request, pk: int) -> Response:
        return Response(CalendarPublicSerializer(_calendar(request, pk, write=False)).data)

    @extend_schema(
        request=CalendarWriteSerializer,
        responses=CalendarPublicSerializer,
        summary="Change a business calendar (admins); running tickets keep their snapshot",
    )
    def patch(self, request: Request, pk: int) -> Response:
        calendar = _calendar(request, pk, write=True)
        serializer = CalendarWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            calendar = sla_calendar_update(
                calendar=calendar, changes=_holidays(dict(serializer.validated_data))
            )
        except SlaConfigError as exc:
            raise _config_error(exc) from exc
        return Response(_calendar_body(calendar))

    @extend_schema(
        responses={204: None}, summary="Delete a business calendar no policy uses (admins)"
    )
    def delete(self, request: Request, pk: int) -> Response:
        try:
            sla_calendar_delete(calendar=_calendar(request, pk, write=True))
        except SlaInUseError as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


def _policy(request: Request, pk: int, *, write: bool) -> SlaPolicy:
    _user, organization_id = _staff_org(request, write=write)
    return get_object_or_404(sla_policy_list(organization_id=organization_id), pk=pk)


def _policy_values(data: dict[str, Any], *, organization_id: int) -> dict[str, Any]:
    """The serializer's fields as the services take them: the calendar as an object."""
    values = dict(data)
    if "calendar_id" in values:
        calendar_id = values.pop("calendar_id")
        values["calendar"] = None
        if calendar_id is not None:
            values["calendar"] = BusinessCalendar.objects.filter(
                organization_id=organization_id, pk=calendar_id
            ).first()
            if values["calendar"] is None:
                raise ValidationError({"calendar_id": ["No such calendar."]})
    return values


class PolicyListCreateApi(APIView):
    @extend_schema(
        operation_id="v1_sla_policies_list", responses=PolicyListSerializer, summary="SLA policies"
    )
    def get(self, request: Request) -> Response:
        _user, organization_id = _staff_org(request, write=False)
        policies = sla_policy_list(organization_id=organization_id)
        return Response({"results": PolicyPublicSerializer(policies, many=True).data})

    @extend_schema(
        request=PolicyWriteSerializer,
        responses={201: PolicyPublicSerializer},
        summary="Create the SLA policy of a priority (admins)",
    )
    def post(self, request: Request) -> Response:
        user, organization_id = _staff_org(request, write=True)
        serializer = PolicyWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assert user.organization is not None
        values = _policy_values(dict(serializer.validated_data), organization_id=organization_id)
        try:
            policy = sla_policy_create(organization=user.organization, **values)
        except SlaConfigError as exc:
            raise _config_error(exc) from exc
        return Response(PolicyPublicSerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailApi(APIView):
    @extend_schema(responses=PolicyPublicSerializer, summary="One SLA policy")
    def get(self, request: Request, pk: int) -> Response:
        return Response(PolicyPublicSerializer(_policy(request, pk, write=False)).data)

    @extend_schema(
        request=PolicyWriteSerializer,
        responses=PolicyPublicSerializer,
        summary="Change an SLA policy (admins); running tickets keep their snapshot",
    )
    def patch(self, request: Request, pk: int) -> Response:
        policy = _policy(request, pk, write=True)
        serializer = PolicyWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = _policy_values(
            dict(serializer.validated_data), organization_id=policy.organization_id
        )
        try:
            policy = sla_policy_update(policy=policy, changes=values)
        except SlaConfigError as exc:
            raise _config_error(exc) from exc
        return Response(PolicyPublicSerializer(policy).data)

    @extend_schema(responses={204: None}, summary="Delete an SLA policy (admins)")
    def delete(self, request: Request, pk: int) -> Response:
        sla_policy_delete(policy=_policy(request, pk, write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TicketSlaApi(APIView):
    @extend_schema(
        responses=SlaTimelineSerializer,
        summary="A ticket's SLA: its state, clocks and timeline (agents and admins)",
    )
    def get(self, request: Request, number: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        if not user.is_staff_member:
            raise Http404
        ticket = get_object_or_404(ticket_list_visible(user=user), number=number)
        return Response(sla_timeline(ticket=ticket))
