from typing import Any

from rest_framework import serializers

from helpdesk.common.serializers import StrictSerializer
from helpdesk.tickets.models import Priority, Ticket


class TicketCreateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, trim_whitespace=True)
    description = serializers.CharField(max_length=50_000, trim_whitespace=True)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)


class TicketPublicSerializer(serializers.ModelSerializer[Ticket]):
    organization = serializers.CharField(source="organization.slug", read_only=True)

    class Meta:
        model = Ticket
        fields: Any = (
            "id",
            "number",
            "organization",
            "subject",
            "description",
            "status",
            "priority",
            "channel",
            "requester_id",
            "version",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields
