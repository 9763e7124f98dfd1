from typing import Any

from rest_framework import serializers

from helpdesk.common.serializers import StrictSerializer
from helpdesk.tickets.models import Priority, Status, Ticket
from helpdesk.tickets.selectors import TICKET_ROW_FIELDS


class TicketCreateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, trim_whitespace=True)
    description = serializers.CharField(max_length=50_000, trim_whitespace=True)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)


class TicketUpdateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, trim_whitespace=True, required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)


class TicketPublicSerializer(serializers.ModelSerializer[Ticket]):
    organization = serializers.CharField(source="organization.slug", read_only=True)

    class Meta:
        model = Ticket
        # The columns the list reads as rows (selectors), plus the organization's slug.
        fields: Any = (*TICKET_ROW_FIELDS, "organization")
        read_only_fields = fields
