import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from helpdesk.common.serializers import StrictSerializer
from helpdesk.webhooks import conf
from helpdesk.webhooks.addresses import MAX_URL_LENGTH, url_problems
from helpdesk.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from helpdesk.webhooks.services import event_types_normalize

_EVENT_TYPES_HELP = 'Event types to receive (see GET webhooks/event-types), or ["*"] for all.'


def _checked_url(value: str) -> str:
    problems = url_problems(
        value, allow_http=conf.allow_http(), allow_private=conf.allow_private_networks()
    )
    if problems:
        raise serializers.ValidationError(problems)
    return value


def _checked_event_types(value: list[str]) -> list[str]:
    try:
        return event_types_normalize(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from exc


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=MAX_URL_LENGTH)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        min_length=1,
        max_length=50,
        help_text=_EVENT_TYPES_HELP,
    )
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    is_active = serializers.BooleanField(default=True)

    def validate_url(self, value: str) -> str:
        return _checked_url(value)

    def validate_event_types(self, value: list[str]) -> list[str]:
        return _checked_event_types(value)


class EndpointUpdateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=MAX_URL_LENGTH, required=False)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        min_length=1,
        max_length=50,
        required=False,
        help_text=_EVENT_TYPES_HELP,
    )
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    is_active = serializers.BooleanField(
        required=False, help_text="false disables it (queued deliveries fail); true enables it."
    )

    def validate_url(self, value: str) -> str:
        return _checked_url(value)

    def validate_event_types(self, value: list[str]) -> list[str]:
        return _checked_event_types(value)


class RotateSecretSerializer(StrictSerializer):
    grace_hours = serializers.IntegerField(
        min_value=0,
        max_value=168,
        default=24,
        help_text="Hours the old secret keeps signing beside the new one (0: it stops now).",
    )


class EndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    class Meta:
        model = WebhookEndpoint
        fields: Any = (
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    """Only on creation and rotation: the secret is never shown otherwise."""

    secret = serializers.CharField(read_only=True, help_text="whsec_…: keep it; shown once.")

    class Meta(EndpointSerializer.Meta):
        fields: Any = (*EndpointSerializer.Meta.fields, "secret")
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    endpoint = serializers.IntegerField(source="endpoint_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields: Any = (
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_response_body",
            "last_error",
            "last_duration_ms",
            "created_at",
            "delivered_at",
        )
        read_only_fields = fields


class AttemptSerializer(serializers.ModelSerializer[WebhookAttempt]):
    class Meta:
        model = WebhookAttempt
        fields: Any = (
            "number",
            "trigger",
            "started_at",
            "succeeded",
            "status_code",
            "response_body",
            "error",
            "duration_ms",
        )
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    payload = serializers.SerializerMethodField(help_text="The body sent, as JSON.")
    attempt_log = serializers.SerializerMethodField(
        help_text="Attempts, newest first (50 at most)."
    )

    class Meta(DeliverySerializer.Meta):
        fields: Any = (*DeliverySerializer.Meta.fields, "payload", "attempt_log")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery: WebhookDelivery) -> Any:
        return json.loads(delivery.payload)

    @extend_schema_field(AttemptSerializer(many=True))
    def get_attempt_log(self, delivery: WebhookDelivery) -> Any:
        return AttemptSerializer(self.context.get("attempts", []), many=True).data


class DeliveryFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


class EventTypesSerializer(serializers.Serializer[Any]):
    event_types = serializers.ListField(child=serializers.CharField())
