"""Webhook endpoints, their deliveries, replays. Thin: validate, call a service or selector,
serialize. Only the organization's admins may use any of it; another organization's objects
answer 404, as if they did not exist."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import Role, User
from helpdesk.common.pagination import NewestFirstCursorPagination
from helpdesk.webhooks import selectors, services
from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint
from helpdesk.webhooks.serializers import (
    DeliveryDetailSerializer,
    DeliveryFilterSerializer,
    DeliverySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EventTypesSerializer,
    RotateSecretSerializer,
)
from helpdesk_shared import EVENT_TYPES

TAG = ["webhooks"]


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class IsOrganizationAdmin(BasePermission):
    message = "Only the organization's admins manage webhooks."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            isinstance(user, User) and user.role == Role.ADMIN and user.organization_id is not None
        )


class _AdminApi(APIView):
    permission_classes = (IsAuthenticated, IsOrganizationAdmin)

    def organization_id(self, request: Request) -> int:
        user: User = request.user  # type: ignore[assignment]
        if user.organization_id is None:  # IsOrganizationAdmin refused it already
            raise PermissionDenied(IsOrganizationAdmin.message)
        return user.organization_id

    def endpoint(self, request: Request, endpoint_id: int) -> WebhookEndpoint:
        endpoints = selectors.endpoints_of_organization(
            organization_id=self.organization_id(request)
        )
        return get_object_or_404(endpoints, pk=endpoint_id)

    def delivery(self, request: Request, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
        endpoint = self.endpoint(request, endpoint_id)
        return get_object_or_404(
            selectors.delivery_of_endpoint(endpoint=endpoint).select_related("endpoint"),
            pk=delivery_id,
        )


class EventTypesApi(_AdminApi):
    @extend_schema(tags=TAG, responses=EventTypesSerializer, summary="Event types to subscribe")
    def get(self, request: Request) -> Response:
        return Response({"event_types": sorted(EVENT_TYPES)})


class EndpointListCreateApi(_AdminApi):
    pagination_class = NewestFirstCursorPagination  # for the OpenAPI document

    @extend_schema(
        tags=TAG, responses=EndpointSerializer(many=True), summary="The organization's endpoints"
    )
    def get(self, request: Request) -> Response:
        paginator = NewestFirstCursorPagination()
        endpoints = selectors.endpoints_of_organization(
            organization_id=self.organization_id(request)
        )
        page = paginator.paginate_queryset(endpoints, request, view=self)
        return paginator.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        request=EndpointCreateSerializer,
        responses={201: EndpointWithSecretSerializer},
        summary="Add an endpoint; the answer holds its signing secret, shown this once",
    )
    def post(self, request: Request) -> Response:
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            organization_id=self.organization_id(request),
            created_by=request.user,  # type: ignore[arg-type]
            **serializer.validated_data,
        )
        return Response(
            EndpointWithSecretSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )


class EndpointDetailApi(_AdminApi):
    @extend_schema(tags=TAG, responses=EndpointSerializer, summary="One endpoint")
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(EndpointSerializer(self.endpoint(request, endpoint_id)).data)

    @extend_schema(
        tags=TAG,
        request=EndpointUpdateSerializer,
        responses=EndpointSerializer,
        summary="Change an endpoint (is_active: false disables it, true enables it)",
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint(request, endpoint_id)
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint,
            changes=serializer.validated_data,
            actor=request.user,  # type: ignore[arg-type]
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(tags=TAG, responses={204: None}, summary="Delete an endpoint and its log")
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.endpoint_delete(endpoint=self.endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(_AdminApi):
    @extend_schema(
        tags=TAG,
        request=RotateSecretSerializer,
        responses=EndpointWithSecretSerializer,
        summary="A new signing secret (the old one also signs during grace_hours)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint(request, endpoint_id)
        serializer = RotateSecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_rotate_secret(
            endpoint=endpoint, grace_hours=serializer.validated_data["grace_hours"]
        )
        return Response(
            EndpointWithSecretSerializer(endpoint).data, headers={"Cache-Control": "no-store"}
        )


class EndpointEnableApi(_AdminApi):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=EndpointSerializer,
        summary="Re-enable an endpoint (its failure count starts again at zero)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = services.endpoint_enable(endpoint=self.endpoint(request, endpoint_id))
        return Response(EndpointSerializer(endpoint).data)


class EndpointPingApi(_AdminApi):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={202: DeliverySerializer},
        summary="Queue a webhook.ping to the endpoint (the worker sends it; see its delivery)",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        try:
            delivery = services.endpoint_ping(endpoint=self.endpoint(request, endpoint_id))
        except services.EndpointDisabledError as exc:
            raise Conflict(str(exc)) from exc
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(_AdminApi):
    pagination_class = NewestFirstCursorPagination  # for the OpenAPI document

    @extend_schema(
        tags=TAG,
        parameters=[DeliveryFilterSerializer],
        responses=DeliverySerializer(many=True),
        summary="The endpoint's delivery log, newest first",
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = self.endpoint(request, endpoint_id)
        filters = DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_of_endpoint(
            endpoint=endpoint, status=filters.validated_data.get("status")
        )
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailApi(_AdminApi):
    @extend_schema(
        tags=TAG, responses=DeliveryDetailSerializer, summary="One delivery, with its attempts"
    )
    def get(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        delivery = self.delivery(request, endpoint_id, delivery_id)
        context: dict[str, Any] = {"attempts": selectors.attempts_of_delivery(delivery=delivery)}
        return Response(DeliveryDetailSerializer(delivery, context=context).data)


class DeliveryReplayApi(_AdminApi):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={202: DeliverySerializer},
        summary="Send a finished delivery again: one more attempt, logged like the others",
    )
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        delivery = self.delivery(request, endpoint_id, delivery_id)
        try:
            delivery = services.delivery_replay(delivery=delivery)
        except (services.EndpointDisabledError, services.DeliveryQueuedError) as exc:
            raise Conflict(str(exc)) from exc
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
