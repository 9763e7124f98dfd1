"""Every API error in one shape: ``{"code", "message", "details", "request_id"}``.

DRF's exceptions go through ``api_exception_handler``; Django's own 400/403/404/500 pages are
replaced by the same JSON for API paths (``handler*`` in config/urls.py), so a client never
has to parse HTML or guess.
"""

from typing import Any

import structlog
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from helpdesk_kit.errors import error_body
from helpdesk_kit.request_id import current_request_id

log = structlog.get_logger(__name__)

_MESSAGES = {
    "invalid": "The request is not valid.",
    "parse_error": "The request body is not valid JSON.",
}


def _details(detail: Any) -> dict[str, list[str]]:
    """DRF's nested error detail, flattened to ``{"field": [...]}`` (``a.b`` for nested)."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            for sub, msgs in _details(value).items():
                name = str(key) if sub == "non_field_errors" else f"{key}.{sub}"
                out.setdefault(name, []).extend(msgs)
        return out
    if isinstance(detail, list):
        if detail and all(isinstance(item, dict | list) for item in detail):
            out = {}
            for index, item in enumerate(detail):
                for sub, msgs in _details(item).items():
                    name = str(index) if sub == "non_field_errors" else f"{index}.{sub}"
                    out.setdefault(name, []).extend(msgs)
            return out
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers, and it is logged
    request_id = current_request_id()
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(
            "validation_error", "Some fields are not valid.", request_id, _details(exc.detail)
        )
    elif isinstance(exc, exceptions.APIException):
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else _MESSAGES.get(code, code)
        body = error_body(code, message, request_id)
    else:  # Http404 / PermissionDenied from Django, already mapped by DRF
        code = "not_found" if response.status_code == status.HTTP_404_NOT_FOUND else "forbidden"
        body = error_body(code, str(response.data.get("detail", code)), request_id)
    response.data = body
    return response


def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, current_request_id()), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "forbidden", "You do not have permission to do this.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "not_found", "Nothing is here.")


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(500, "internal_error", "Something went wrong on our side; it is logged.")
