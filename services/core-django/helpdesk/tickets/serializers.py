"""What the ticket API accepts (strict: unknown fields are refused) and what it answers."""

from typing import Any

from rest_framework import serializers

from helpdesk.accounts.models import Role, User
from helpdesk.common.serializers import StrictModelSerializer, StrictSerializer
from helpdesk.sla.selectors import SLA_STATES
from helpdesk.tickets.models import Comment, Macro, Priority, Queue, SavedView, Status, Ticket

MAX_TAGS = 20


class _OrgScoped(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A primary key that must belong to the caller's organization (else: does not exist)."""

    def get_queryset(self) -> Any:
        user: User = self.context["user"]
        queryset = super().get_queryset()
        assert queryset is not None
        return queryset.filter(organization_id=user.organization_id or 0)


class _Staff(_OrgScoped):
    def get_queryset(self) -> Any:
        return super().get_queryset().filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True)


class _Tags(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            child=serializers.RegexField(r"^[\w-]{1,50}$", max_length=50),
            max_length=MAX_TAGS,
            **kwargs,
        )


class TicketCreateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, trim_whitespace=True)
    description = serializers.CharField(max_length=50_000, trim_whitespace=True)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    # Staff and bots only (a customer's ticket is triaged and routed for them):
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    queue = _OrgScoped(queryset=Queue.objects.all(), required=False, allow_null=True)
    assignee = _Staff(queryset=User.objects.all(), required=False, allow_null=True)
    requester = _OrgScoped(
        queryset=User.objects.filter(role=Role.CUSTOMER),
        required=False,
        help_text="open the ticket on behalf of this customer (staff and bots)",
    )
    tags = _Tags(required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)

    STAFF_ONLY = ("category", "queue", "assignee", "requester", "tags", "due_at")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user: User = self.context["user"]
        if user.role == Role.CUSTOMER:
            refused = sorted(set(attrs) & set(self.STAFF_ONLY))
            if refused:
                raise serializers.ValidationError(
                    {name: ["Customers cannot set this field."] for name in refused}
                )
        return attrs


class TicketUpdateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=200, trim_whitespace=True, required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    queue = _OrgScoped(queryset=Queue.objects.all(), required=False, allow_null=True)
    assignee = _Staff(queryset=User.objects.all(), required=False, allow_null=True)
    tags = _Tags(required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class CommentCreateSerializer(StrictSerializer):
    body = serializers.CharField(max_length=50_000, trim_whitespace=True)
    public = serializers.BooleanField(
        default=True, help_text="false: an internal note, which customers never see"
    )


class UserBriefSerializer(serializers.ModelSerializer[User]):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields: Any = ("id", "name", "role")

    def get_name(self, user: User) -> str:
        return user.full_name or user.email


class AttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, attachment: Any) -> str:
        return f"/api/v1/attachments/{attachment.pk}"


class CommentSerializer(serializers.ModelSerializer[Comment]):
    author = UserBriefSerializer(allow_null=True)
    attachments = AttachmentSerializer(many=True)

    class Meta:
        model = Comment
        fields: Any = ("id", "body", "public", "author", "attachments", "created_at")
        read_only_fields = fields


class TriageSerializer(serializers.Serializer[Any]):
    category = serializers.DictField(allow_null=True)
    priority = serializers.DictField(allow_null=True)
    sentiment = serializers.DictField(allow_null=True)
    language = serializers.DictField(allow_null=True)
    model = serializers.CharField()
    applied = serializers.BooleanField()
    triaged_at = serializers.DateTimeField(allow_null=True)


def triage_of(ticket: Ticket) -> dict[str, Any] | None:
    if ticket.ai_triaged_at is None:
        return None

    def pick(label: str, confidence: float | None) -> dict[str, Any] | None:
        return {"label": label, "confidence": confidence} if label else None

    return {
        "category": pick(ticket.ai_category, ticket.ai_category_confidence),
        "priority": pick(ticket.ai_priority, ticket.ai_priority_confidence),
        "sentiment": pick(ticket.ai_sentiment, ticket.ai_sentiment_confidence),
        "language": pick(ticket.ai_language, ticket.ai_language_confidence),
        "model": ticket.ai_model,
        "applied": ticket.ai_applied,
        "triaged_at": ticket.ai_triaged_at,
    }


class TicketRowSerializer(serializers.Serializer[Any]):
    """One row of the list (documentation of ``selectors.ticket_rows_public``)."""

    id = serializers.IntegerField()
    number = serializers.IntegerField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    priority = serializers.ChoiceField(choices=Priority.choices)
    category = serializers.CharField()
    channel = serializers.CharField()
    requester_id = serializers.IntegerField()
    assignee_id = serializers.IntegerField(allow_null=True)
    queue_id = serializers.IntegerField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    due_at = serializers.DateTimeField(allow_null=True)
    sla_state = serializers.ChoiceField(choices=SLA_STATES)
    sla_due_at = serializers.DateTimeField(allow_null=True, help_text="the next SLA breach")
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TicketSerializer(serializers.ModelSerializer[Ticket]):
    """A ticket as its page shows it. Customers get no AI triage and no queue internals."""

    organization = serializers.CharField(source="organization.slug", read_only=True)
    requester = UserBriefSerializer()
    assignee = UserBriefSerializer(allow_null=True)
    queue = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    comments = serializers.SerializerMethodField()
    merged_into = serializers.SerializerMethodField()
    triage = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()

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
            "category",
            "channel",
            "requester",
            "assignee",
            "queue",
            "tags",
            "due_at",
            "first_response_at",
            "solved_at",
            "merged_into",
            "triage",
            "sla",
            "version",
            "created_at",
            "updated_at",
            "comments",
        )
        read_only_fields = fields

    def _staff(self) -> bool:
        user: User | None = self.context.get("user")
        return user is not None and (user.is_staff_member or user.role == Role.BOT)

    def get_queue(self, ticket: Ticket) -> dict[str, Any] | None:
        if ticket.queue is None:
            return None
        return {"id": ticket.queue.pk, "name": ticket.queue.name}

    def get_tags(self, ticket: Ticket) -> list[str]:
        names: list[str] | None = getattr(ticket, "tag_names", None)  # set by ticket_create
        if names is not None:
            return names
        return [tag.name for tag in ticket.tags.all()]

    def get_comments(self, ticket: Ticket) -> list[dict[str, Any]] | None:
        comments = getattr(ticket, "visible_comments", None)
        if comments is None:
            return None  # not loaded (lists and writes): read them at .../comments
        return list(CommentSerializer(comments, many=True).data)

    def get_merged_into(self, ticket: Ticket) -> int | None:
        return ticket.merged_into.number if ticket.merged_into else None

    def get_triage(self, ticket: Ticket) -> dict[str, Any] | None:
        return triage_of(ticket) if self._staff() else None

    def get_sla(self, ticket: Ticket) -> dict[str, Any] | None:
        """State and next breach (staff); GET .../sla explains it step by step."""
        from helpdesk.tickets.sla_glue import sla_brief

        return sla_brief(ticket) if self._staff() else None


class MergeSerializer(StrictSerializer):
    into = serializers.IntegerField(min_value=1, help_text="the number of the ticket to keep")


class LinkSerializer(StrictSerializer):
    number = serializers.IntegerField(min_value=1)


class MacroSerializer(StrictModelSerializer[Macro]):
    class Meta:
        model = Macro
        fields: Any = ("id", "name", "body", "public", "actions")

    def validate_actions(self, actions: Any) -> dict[str, Any]:
        if not isinstance(actions, dict):
            raise serializers.ValidationError("Actions are an object of field: value.")
        from helpdesk.tickets.services import MACRO_ACTIONS

        unknown = sorted(set(actions) - set(MACRO_ACTIONS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown action {', '.join(unknown)}; use {', '.join(MACRO_ACTIONS)}."
            )
        if "status" in actions and actions["status"] not in Status.values:
            raise serializers.ValidationError(f"status must be one of {', '.join(Status.values)}.")
        if "priority" in actions and actions["priority"] not in Priority.values:
            raise serializers.ValidationError(
                f"priority must be one of {', '.join(Priority.values)}."
            )
        if "tags" in actions and not (
            isinstance(actions["tags"], list) and all(isinstance(t, str) for t in actions["tags"])
        ):
            raise serializers.ValidationError("tags must be a list of names.")
        return actions


class QueueSerializer(StrictModelSerializer[Queue]):
    members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=User.objects.none(), required=False
    )

    class Meta:
        model = Queue
        fields: Any = ("id", "name", "assignment", "categories", "members")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user: User | None = self.context.get("user")
        if user is not None:
            members: Any = self.fields["members"]
            members.child_relation.queryset = User.objects.filter(
                organization_id=user.organization_id or 0, role__in=[Role.AGENT, Role.ADMIN]
            )

    def validate_categories(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("categories is a list of category names.")
        return value


class SavedViewSerializer(StrictModelSerializer[SavedView]):
    class Meta:
        model = SavedView
        fields: Any = ("id", "name", "filters")

    def validate_filters(self, value: Any) -> dict[str, str]:
        from helpdesk.tickets.selectors import FILTERS

        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError("filters is an object of filter: value strings.")
        unknown = sorted(set(value) - set(FILTERS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown filter {', '.join(unknown)}; use {', '.join(FILTERS)}."
            )
        return value
