"""Ticket endpoints. Thin: validate, check the caller's role, call a service or selector."""

import mimetypes
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.accounts.models import Role, User
from helpdesk.common.pagination import OrderedCursorPagination
from helpdesk.common.permissions import TicketScopes, require_admin, require_agent, require_staff
from helpdesk.common.renderers import render_json
from helpdesk.tickets import cache
from helpdesk.tickets.models import Attachment, Channel, Macro, Queue, SavedView, Ticket
from helpdesk.tickets.selectors import (
    SORTS,
    FilterError,
    comments_visible,
    queues_for,
    ticket_detail,
    ticket_history,
    ticket_links,
    ticket_list_visible,
    ticket_rows,
    ticket_rows_public,
    tickets_filtered,
)
from helpdesk.tickets.serializers import (
    CommentCreateSerializer,
    CommentSerializer,
    LinkSerializer,
    MacroSerializer,
    MergeSerializer,
    QueueSerializer,
    SavedViewSerializer,
    TicketCreateSerializer,
    TicketRowSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
)
from helpdesk.tickets.services import (
    InvalidTransitionError,
    MergeError,
    NewAttachment,
    StaleTicketError,
    TicketClosedError,
    comment_create,
    macro_apply,
    ticket_create,
    ticket_link,
    ticket_merge,
    ticket_unlink,
    ticket_update,
)
from helpdesk.tickets.sla_glue import seconds_until_sla_changes
from helpdesk_kit.errors import error_body
from helpdesk_kit.request_id import current_request_id

TICKET_PERMISSIONS = [IsAuthenticated, TicketScopes]


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


def _ticket(request: Request, number: int) -> Ticket:
    """The caller's ticket by number; 404 for tickets they may not see (or that do not exist)."""
    return get_object_or_404(
        ticket_list_visible(user=_user(request)).select_related("requester__company"),
        number=number,
    )


def etag(ticket: Ticket) -> str:
    """The ETag of a ticket's version, for If-Match on writes (optimistic concurrency)."""
    return f'"v{ticket.version}"'


def expected_version(request: Request) -> int | None:
    """The version an If-Match names; None without the header (or with ``*``). An ETag that is
    not one of ours matches no version (-1): the write is refused with 412, as RFC 9110 says."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    match = re.fullmatch(r'(?:W/)?"v(\d{1,9})"', header)
    return int(match.group(1)) if match else -1


def _stale(ticket: Ticket, user: User) -> Response:
    """412 in the error shape, with the ticket as it is now, so the agent can review first."""
    body: dict[str, Any] = dict(
        error_body(
            "precondition_failed",
            "This ticket changed since you loaded it; review the current version and retry.",
            current_request_id(),
        )
    )
    current = ticket_detail(user=user, number=ticket.number)
    body["current"] = TicketSerializer(current, context={"user": user}).data
    return Response(
        body, status=status.HTTP_412_PRECONDITION_FAILED, headers={"ETag": etag(ticket)}
    )


def _written(user: User, write: Callable[[], Ticket]) -> Response:
    """Run a write to a ticket and answer with the ticket as it now is (and its ETag); a stale
    If-Match is a 412 with the current ticket, a refused transition a 400 naming the allowed
    ones, a closed ticket a 409."""
    try:
        ticket = write()
    except StaleTicketError as stale:
        return _stale(stale.ticket, user)
    except InvalidTransitionError as exc:
        raise ValidationError({"status": [str(exc)]}) from exc
    except TicketClosedError as exc:
        raise Conflict(str(exc)) from exc
    ticket = ticket_detail(user=user, number=ticket.number)
    return Response(
        TicketSerializer(ticket, context={"user": user}).data, headers={"ETag": etag(ticket)}
    )


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "This cannot be done in the ticket's current state."


# --- Tickets ------------------------------------------------------------------------------


_LIST_PARAMS = [
    OpenApiParameter(
        "status",
        str,
        description="new, open, pending, on_hold, solved, closed, unsolved; comma-separated",
    ),
    OpenApiParameter("priority", str, description="low, normal, high, urgent; comma-separated"),
    OpenApiParameter("queue", str, description="queue ids or `none`"),
    OpenApiParameter("assignee", str, description="user ids, `me` or `none`"),
    OpenApiParameter("tag", str, description="tag names (any of them)"),
    OpenApiParameter("requester", str, description="user ids"),
    OpenApiParameter("sla", str, description="ok, warning, breached, paused, met, none"),
    OpenApiParameter("q", str, description="full-text search"),
    OpenApiParameter("sort", str, description="-created (default), created, breach"),
    OpenApiParameter("view", int, description="apply one of your saved views"),
]


class TicketListCreateApi(APIView):
    permission_classes = TICKET_PERMISSIONS
    pagination_class = OrderedCursorPagination  # for the OpenAPI document
    list_ordering: tuple[str, ...] = ("-id",)

    @extend_schema(
        parameters=_LIST_PARAMS,
        responses=TicketRowSerializer(many=True),
        summary="Tickets you may see, filtered, with cursor pagination",
    )
    def get(self, request: Request) -> HttpResponse:
        user = _user(request)
        key, cached = cache.list_page_lookup(user=user, query=request.META.get("QUERY_STRING", ""))
        if cached is not None:
            return HttpResponse(cached, content_type="application/json")
        params = self._params(request, user)
        sort = params.get("sort", "-created")
        if sort not in SORTS:
            raise ValidationError({"sort": [f"Use one of {', '.join(SORTS)}."]})
        self.list_ordering = SORTS[sort]
        try:
            tickets = tickets_filtered(ticket_list_visible(user=user), params=params, user=user)
        except FilterError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        rows = ticket_rows(tickets)
        if sort == "breach":
            rows = rows.filter(sla__next_breach_at__isnull=False)
        paginator = OrderedCursorPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        # Copies: the paginator reads its cursor positions from the rows as fetched.
        public = ticket_rows_public([dict(row) for row in page or []])
        body = render_json(paginator.get_paginated_response(public).data)
        if key:
            cache.list_page_put(key, body)
        return HttpResponse(body, content_type="application/json")

    @staticmethod
    def _params(request: Request, user: User) -> dict[str, str]:
        params: dict[str, str] = {
            k: str(v) for k, v in request.query_params.items() if k not in ("cursor", "page_size")
        }
        unknown = sorted(set(params) - {*LIST_PARAMS})
        if unknown:
            raise ValidationError({name: ["Unknown filter."] for name in unknown})
        if view_id := params.pop("view", None):
            if not view_id.isdigit():
                raise ValidationError({"view": ["A saved view's id."]})
            saved = SavedView.objects.filter(user=user, pk=int(view_id)).first()
            if saved is None:
                raise ValidationError({"view": ["No saved view of yours has this id."]})
            params = {**saved.filters, **params}
        return params

    @extend_schema(
        request=TicketCreateSerializer,
        responses={201: TicketSerializer},
        summary="Open a ticket (emits ticket.created)",
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        serializer = TicketCreateSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        requester = data.pop("requester", None) or user
        ticket = ticket_create(
            requester=requester,
            actor=user,
            channel=Channel.API if isinstance(request.auth, AuthToken) else Channel.WEB,
            **data,
        )
        # Answered from the objects just written: a new ticket has no conversation yet, and
        # re-reading it was as costly as a GET of the ticket (8 queries).
        ticket.visible_comments = []  # type: ignore[attr-defined]
        if user.organization is not None:  # the same organization, often loaded already
            ticket.organization = user.organization
        return Response(
            TicketSerializer(ticket, context={"user": user}).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": etag(ticket), "Location": f"/api/v1/tickets/{ticket.number}/"},
        )


LIST_PARAMS = (
    "status",
    "priority",
    "queue",
    "assignee",
    "tag",
    "requester",
    "sla",
    "q",
    "sort",
    "view",
)


class TicketDetailApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(responses=TicketSerializer, summary="One ticket with its conversation")
    def get(self, request: Request, number: int) -> HttpResponse:
        user = _user(request)
        key, cached = cache.ticket_page_lookup(user=user, number=number)
        if cached is not None:
            tag, body = cached
            return HttpResponse(body, content_type="application/json", headers={"ETag": tag})
        try:
            ticket = ticket_detail(user=user, number=number)
        except Ticket.DoesNotExist:
            raise Http404 from None
        body = render_json(TicketSerializer(ticket, context={"user": user}).data)
        if key:
            cache.ticket_page_put(
                key, etag=etag(ticket), body=body, seconds=seconds_until_sla_changes(ticket)
            )
        return HttpResponse(body, content_type="application/json", headers={"ETag": etag(ticket)})

    @extend_schema(
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer, 412: TicketSerializer},
        summary="Change a ticket (emits ticket.updated); send If-Match with its ETag",
    )
    def patch(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        require_staff(user, "change a ticket's fields")
        serializer = TicketUpdateSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        changes, version = serializer.validated_data, expected_version(request)
        return _written(
            user,
            lambda: ticket_update(
                ticket_id=ticket.pk, actor=user, changes=changes, expected_version=version
            ),
        )


# --- Comments and attachments -------------------------------------------------------------


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The attachment is too large."


class UnsupportedType(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"
    default_detail = "This kind of file cannot be attached."


def _attachments(request: Request) -> list[NewAttachment]:
    files = request.FILES.getlist("attachments") if hasattr(request, "FILES") else []
    if len(files) > settings.ATTACHMENT_MAX_COUNT:
        raise ValidationError(
            {"attachments": [f"At most {settings.ATTACHMENT_MAX_COUNT} files per comment."]}
        )
    out = []
    for upload in files:
        name = (upload.name or "file").replace("/", "_")[-200:]
        if upload.size is None or upload.size > settings.ATTACHMENT_MAX_BYTES:
            raise PayloadTooLarge(
                f"{name} is larger than {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB."
            )
        # The type comes from the name, never from what the client claims.
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type not in settings.ATTACHMENT_TYPES:
            raise UnsupportedType(f"{name}: {content_type} files cannot be attached.")
        out.append(
            NewAttachment(file=upload, name=name, size=upload.size, content_type=content_type)
        )
    return out


class TicketCommentsApi(APIView):
    permission_classes = TICKET_PERMISSIONS
    parser_classes = (JSONParser, MultiPartParser)

    @extend_schema(responses=CommentSerializer(many=True), summary="The ticket's conversation")
    def get(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        comments = comments_visible(user=user, ticket=ticket)
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(
        request=CommentCreateSerializer,
        responses={201: CommentSerializer},
        summary="Reply, or write an internal note (public=false); If-Match guards collisions",
    )
    def post(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        data = {k: v for k, v in request.data.items() if k != "attachments"}
        serializer = CommentCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        public = serializer.validated_data["public"]
        if not public and not (user.is_staff_member or user.role == Role.BOT):
            raise PermissionDenied("Only agents and admins can write internal notes.")
        try:
            comment = comment_create(
                ticket_id=ticket.pk,
                author=user,
                body=serializer.validated_data["body"],
                public=public,
                attachments=_attachments(request),
                expected_version=expected_version(request),
            )
        except StaleTicketError as stale:
            return _stale(stale.ticket, user)
        except TicketClosedError as exc:
            raise Conflict(str(exc)) from exc
        ticket.refresh_from_db(fields=["version"])
        comment = comments_visible(user=user, ticket=ticket).get(pk=comment.pk)
        return Response(
            CommentSerializer(comment).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": etag(ticket)},
        )


class AttachmentApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, summary="Download")
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        user = _user(request)
        attachment = get_object_or_404(
            Attachment.objects.select_related("comment__ticket"),
            pk=attachment_id,
            organization_id=user.organization_id,
        )
        ticket = attachment.comment.ticket
        if not ticket_list_visible(user=user).filter(pk=ticket.pk).exists():
            raise Http404
        if not attachment.comment.public and not (user.is_staff_member or user.role == Role.BOT):
            raise Http404
        response = FileResponse(
            attachment.file.open("rb"),
            as_attachment=True,
            filename=attachment.name,
            content_type=attachment.content_type,
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- History, merge, links, macros --------------------------------------------------------

_HistoryEntries = inline_serializer(
    "HistoryEntry",
    many=True,
    fields={
        "event_id": serializers.UUIDField(),
        "event_type": serializers.CharField(),
        "field": serializers.CharField(),
        "old": serializers.CharField(allow_null=True),
        "new": serializers.CharField(allow_null=True),
        "actor": serializers.DictField(),
        "request_id": serializers.CharField(),
        "at": serializers.DateTimeField(),
    },
)


class TicketHistoryApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(responses=_HistoryEntries, summary="Every change, oldest first")
    def get(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        entries = list(ticket_history(ticket=ticket, user=user))
        names = dict(
            User.objects.filter(pk__in={e.actor_id for e in entries if e.actor_id}).values_list(
                "pk", "full_name"
            )
        )
        return Response(
            [
                {
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "field": e.field,
                    "old": e.old,
                    "new": e.new,
                    "actor": {
                        "kind": e.actor_kind,
                        "id": e.actor_id,
                        "role": e.actor_role or None,
                        "name": names.get(e.actor_id) if e.actor_id else None,
                    },
                    "request_id": e.request_id,
                    "at": e.at,
                }
                for e in entries
            ]
        )


class TicketMergeApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        request=MergeSerializer,
        responses={200: TicketSerializer},
        summary="Merge this ticket into another (this one is closed with a link)",
    )
    def post(self, request: Request, number: int) -> Response:
        user = _user(request)
        source = _ticket(request, number)
        require_agent(user, "merge tickets")
        serializer = MergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = (
            ticket_list_visible(user=user).filter(number=serializer.validated_data["into"]).first()
        )
        if target is None:
            raise ValidationError({"into": ["No ticket of yours has this number."]})
        try:
            target = ticket_merge(source=source, target=target, actor=user)
        except MergeError as exc:
            raise Conflict(str(exc)) from exc
        target = ticket_detail(user=user, number=target.number)
        return Response(TicketSerializer(target, context={"user": user}).data)


class LinkedTicketSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    subject = serializers.CharField()
    status = serializers.CharField()


class TicketLinksApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(responses=LinkedTicketSerializer(many=True), summary="Related tickets")
    def get(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        require_staff(user, "see linked tickets")
        return Response(
            [
                {"number": t.number, "subject": t.subject, "status": t.status}
                for t in ticket_links(ticket=ticket)
            ]
        )

    @extend_schema(
        request=LinkSerializer, responses={201: LinkedTicketSerializer}, summary="Link a ticket"
    )
    def post(self, request: Request, number: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        require_agent(user, "link tickets")
        serializer = LinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        other = (
            ticket_list_visible(user=user)
            .filter(number=serializer.validated_data["number"])
            .first()
        )
        if other is None:
            raise ValidationError({"number": ["No ticket of yours has this number."]})
        try:
            ticket_link(ticket=ticket, other=other)
        except MergeError as exc:
            raise ValidationError({"number": [str(exc)]}) from exc
        return Response(
            {"number": other.number, "subject": other.subject, "status": other.status},
            status=status.HTTP_201_CREATED,
        )


class TicketLinkDetailApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(responses={204: None}, summary="Remove a link")
    def delete(self, request: Request, number: int, other: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        require_agent(user, "unlink tickets")
        other_ticket = _ticket(request, other)
        ticket_unlink(ticket=ticket, other=other_ticket)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TicketMacroApplyApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    @extend_schema(
        request=None,
        responses={200: TicketSerializer},
        summary="Apply a macro: its reply and its field changes (If-Match honoured)",
    )
    def post(self, request: Request, number: int, macro_id: int) -> Response:
        user = _user(request)
        ticket = _ticket(request, number)
        require_agent(user, "apply macros")
        macro = get_object_or_404(Macro, pk=macro_id, organization_id=user.organization_id)
        version = expected_version(request)
        return _written(
            user,
            lambda: macro_apply(macro=macro, ticket=ticket, agent=user, expected_version=version)[
                0
            ],
        )


# --- Organization-wide objects: macros, queues, saved views ---------------------------------


class _OrgCollection(APIView):
    """List and create objects of the caller's organization. Agents read; admins write."""

    permission_classes = TICKET_PERMISSIONS
    serializer_class: Any
    model: Any

    def queryset(self, user: User) -> QuerySet[Any]:
        items: QuerySet[Any] = self.model.objects.filter(organization_id=user.organization_id)
        return items.order_by("name")

    def get(self, request: Request) -> Response:
        user = _user(request)
        require_staff(user, "read this")
        items = self.queryset(user)
        return Response(self.serializer_class(items, many=True, context={"user": user}).data)

    def post(self, request: Request) -> Response:
        user = _user(request)
        require_admin(user, "create this")
        serializer = self.serializer_class(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        try:
            serializer.save(organization_id=user.organization_id)
        except Exception as exc:
            if "unique" in str(exc).lower():
                raise ValidationError({"name": ["This name is taken."]}) from exc
            raise
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class _OrgItem(APIView):
    permission_classes = TICKET_PERMISSIONS
    serializer_class: Any
    model: Any

    def item(self, request: Request, pk: int) -> Any:
        user = _user(request)
        return get_object_or_404(self.model, pk=pk, organization_id=user.organization_id)

    def get(self, request: Request, pk: int) -> Response:
        user = _user(request)
        item = self.item(request, pk)
        require_staff(user, "read this")
        return Response(self.serializer_class(item, context={"user": user}).data)

    def patch(self, request: Request, pk: int) -> Response:
        user = _user(request)
        item = self.item(request, pk)
        require_admin(user, "change this")
        serializer = self.serializer_class(
            item, data=request.data, partial=True, context={"user": user}
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    def delete(self, request: Request, pk: int) -> Response:
        user = _user(request)
        item = self.item(request, pk)
        require_admin(user, "delete this")
        item.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(request=MacroSerializer, responses=MacroSerializer)
@extend_schema_view(get=extend_schema(operation_id="v1_macros_list"))
class MacroListApi(_OrgCollection):
    serializer_class = MacroSerializer
    model = Macro


@extend_schema(request=MacroSerializer, responses=MacroSerializer)
class MacroDetailApi(_OrgItem):
    serializer_class = MacroSerializer
    model = Macro


@extend_schema(request=QueueSerializer, responses=QueueSerializer)
@extend_schema_view(get=extend_schema(operation_id="v1_queues_list"))
class QueueListApi(_OrgCollection):
    serializer_class = QueueSerializer
    model = Queue

    def queryset(self, user: User) -> QuerySet[Any]:
        return queues_for(user=user).prefetch_related("members")


@extend_schema(request=QueueSerializer, responses=QueueSerializer)
class QueueDetailApi(_OrgItem):
    serializer_class = QueueSerializer
    model = Queue


@extend_schema(request=SavedViewSerializer, responses=SavedViewSerializer)
@extend_schema_view(get=extend_schema(operation_id="v1_views_list"))
class SavedViewListApi(APIView):
    """Each user's own saved views of the ticket list."""

    permission_classes = TICKET_PERMISSIONS

    def get(self, request: Request) -> Response:
        views = SavedView.objects.filter(user=_user(request)).order_by("name")
        return Response(SavedViewSerializer(views, many=True).data)

    def post(self, request: Request) -> Response:
        user = _user(request)
        serializer = SavedViewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if SavedView.objects.filter(user=user, name=serializer.validated_data["name"]).exists():
            raise ValidationError({"name": ["You have a view of this name."]})
        serializer.save(user=user)
        return Response(serializer.data, status=status.HTTP_201_CREATED)


@extend_schema(request=SavedViewSerializer, responses=SavedViewSerializer)
class SavedViewDetailApi(APIView):
    permission_classes = TICKET_PERMISSIONS

    def get(self, request: Request, pk: int) -> Response:
        view = get_object_or_404(SavedView, pk=pk, user=_user(request))
        return Response(SavedViewSerializer(view).data)

    def patch(self, request: Request, pk: int) -> Response:
        view = get_object_or_404(SavedView, pk=pk, user=_user(request))
        serializer = SavedViewSerializer(view, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(SavedView, pk=pk, user=_user(request)).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
