from typing import Any

from rest_framework import serializers

from helpdesk.common.serializers import StrictSerializer
from helpdesk.sla.business_time import (
    CalendarError,
    format_weekly_hours,
    parse_time_zone,
    parse_weekly_hours,
)
from helpdesk.sla.models import MAX_TARGET_MINUTES, BusinessCalendar, Holiday, SlaPolicy
from helpdesk.sla.selectors import SLA_STATES
from helpdesk.tickets.models import Priority

WEEKLY_HOURS_HELP = (
    'Opening windows per weekday in local time, e.g. {"mon": [["09:00", "17:00"]]}; days left '
    'out are closed; "24:00" closes at midnight; split night shifts at midnight.'
)


class HolidaySerializer(StrictSerializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=100, allow_blank=True, default="")


def _validate_time_zone(value: str) -> str:
    try:
        return parse_time_zone(value).key
    except CalendarError as exc:
        raise serializers.ValidationError(str(exc)) from None


def _validate_weekly_hours(value: Any) -> dict[str, list[list[str]]]:
    try:
        return format_weekly_hours(parse_weekly_hours(value))
    except CalendarError as exc:
        raise serializers.ValidationError(str(exc)) from None


class CalendarWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, trim_whitespace=True)
    time_zone = serializers.CharField(max_length=64, help_text="IANA, e.g. Europe/Berlin.")
    weekly_hours = serializers.JSONField(help_text=WEEKLY_HOURS_HELP)
    holidays = HolidaySerializer(many=True, required=False, help_text="Replaces the whole list.")

    def validate_time_zone(self, value: str) -> str:
        return _validate_time_zone(value)

    def validate_weekly_hours(self, value: Any) -> dict[str, list[list[str]]]:
        return _validate_weekly_hours(value)


class HolidayPublicSerializer(serializers.ModelSerializer[Holiday]):
    class Meta:
        model = Holiday
        fields: Any = ("date", "name")
        read_only_fields = fields


class CalendarPublicSerializer(serializers.ModelSerializer[BusinessCalendar]):
    holidays = HolidayPublicSerializer(many=True, read_only=True)
    weekly_hours = serializers.JSONField(read_only=True, help_text=WEEKLY_HOURS_HELP)

    class Meta:
        model = BusinessCalendar
        fields: Any = (
            "id",
            "name",
            "time_zone",
            "weekly_hours",
            "holidays",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class PolicyWriteSerializer(StrictSerializer):
    priority = serializers.ChoiceField(choices=Priority.choices)
    first_response_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_TARGET_MINUTES, help_text="Target, in business minutes."
    )
    resolution_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_TARGET_MINUTES, help_text="Target, in business minutes."
    )
    calendar_id = serializers.IntegerField(
        allow_null=True, required=False, default=None, help_text="None: the clocks run 24/7."
    )
    warning_share = serializers.FloatField(
        min_value=0.01,
        max_value=0.99,
        required=False,
        default=0.75,
        help_text="sla.warning is emitted when this share of a target is used up.",
    )


class PolicyPublicSerializer(serializers.ModelSerializer[SlaPolicy]):
    calendar_id = serializers.IntegerField(read_only=True, allow_null=True)
    calendar_name = serializers.CharField(
        source="calendar.name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = SlaPolicy
        fields: Any = (
            "id",
            "priority",
            "first_response_minutes",
            "resolution_minutes",
            "calendar_id",
            "calendar_name",
            "warning_share",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


# --- the timeline (documentation of the selector's dict) -------------------------------------


class SlaMetricSerializer(serializers.Serializer[Any]):
    state = serializers.CharField(
        help_text="ok, warning, breached, paused, met, stopped (solved without it) or none"
    )
    target_minutes = serializers.IntegerField(allow_null=True)
    running = serializers.BooleanField()
    due_at = serializers.DateTimeField(allow_null=True)
    warning_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    warned_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    elapsed_business_seconds = serializers.IntegerField()
    remaining_business_seconds = serializers.IntegerField(allow_null=True)
    elapsed_share = serializers.FloatField(allow_null=True)
    explanation = serializers.CharField()


class SlaMetricsSerializer(serializers.Serializer[Any]):
    first_response = SlaMetricSerializer(required=False)
    resolution = SlaMetricSerializer(required=False)


class SlaTimelineEventSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    metric = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()
    detail = serializers.DictField()


class SlaTimelineSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    state = serializers.CharField(help_text=", ".join(SLA_STATES))
    policy = serializers.DictField(allow_null=True)
    ticket_status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    paused_since = serializers.DateTimeField(allow_null=True)
    next_breach_at = serializers.DateTimeField(allow_null=True)
    metrics = SlaMetricsSerializer()
    events = SlaTimelineEventSerializer(many=True)


class CalendarListSerializer(serializers.Serializer[Any]):
    results = CalendarPublicSerializer(many=True)


class PolicyListSerializer(serializers.Serializer[Any]):
    results = PolicyPublicSerializer(many=True)
