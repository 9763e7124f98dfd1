"""Cursor pagination, newest first: stable while new rows arrive, cheap at any depth."""

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class NewestFirstCursorPagination(CursorPagination):
    ordering: Any = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A malformed cursor is the client's mistake: 400 with the field, not DRF's 404."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["This cursor is not valid; use a `next` link."]}
            ) from None


class OrderedCursorPagination(NewestFirstCursorPagination):
    """Cursor pagination in an order the view chooses per request (``view.list_ordering``)."""

    def get_ordering(self, request: Request, queryset: Any, view: Any = None) -> tuple[str, ...]:
        return tuple(getattr(view, "list_ordering", None) or ("-id",))
