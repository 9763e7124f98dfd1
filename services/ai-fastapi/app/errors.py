"""Every error answer in the one helpdesk shape: ``{"code", "message", "details", "request_id"}``.

- a request that fails validation: 422 ``validation_error``, ``details`` per field;
- a body that is not JSON: 400 ``parse_error`` (the code Django REST framework gives the same case);
- any ``HTTPException``, the router's 404 and 405 included: its status, a stable code from
  ``CODES`` (or the status phrase in snake case), its headers (``Allow``…) kept;
- anything else: 500 ``internal_error``, reported to Sentry and logged with the traceback and the
  request id; the answer says nothing of the cause.
"""

import re
from collections.abc import Mapping
from http import HTTPStatus

import sentry_sdk
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from helpdesk_kit.errors import (
    error_body,
    pydantic_details,
)
from helpdesk_kit.request_id import (
    current_request_id,
)

log = structlog.stdlib.get_logger(__name__)
LOGGER_NAME = __name__

# Stable codes for the statuses an API answers most: Django REST framework's words where it has
# one, as the core answers them.
CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled",
    500: "internal_error",
    503: "service_unavailable",
}

# The messages the core and the gateway give for the same cases, when the exception has no own.
_MESSAGES: dict[int, str] = {
    404: "Nothing is here.",
    500: "Something went wrong on our side; it is logged.",
}

# Set in the request scope by the 500 handler, to the exception it has answered and logged.
_ANSWERED = "helpdesk.answered_exception"


def code_for_status(status: int) -> str:
    if status in CODES:
        return CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "http_error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")  # "I'm a Teapot": i_m_a_teapot


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(code, message, current_request_id(), details)
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """An answer in the one shape with a code of its own (``model_not_ready``, ``throttled``…)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


async def api_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def validation_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for error in errors:
        if error.get("type") == "json_invalid":
            # FastAPI reports a body it cannot decode as a validation error at ("body", offset).
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            offset = error["loc"][-1] if error.get("loc") else "?"
            message = f"The request body is not valid JSON: {reason} (at character {offset})."
            return error_response(400, "parse_error", message)
    return error_response(
        422, "validation_error", "Some fields are not valid.", pydantic_details(errors)
    )


async def http_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if not is_body_allowed_for_status_code(status):
        return Response(status_code=status, headers=exc.headers)
    phrase = _phrase(status)
    # Starlette's default detail is the status phrase ("Not Found"): a message of our own is better.
    own = isinstance(exc.detail, str) and exc.detail and exc.detail != phrase
    message = str(exc.detail) if own else _MESSAGES.get(status, phrase)
    return error_response(status, code_for_status(status), message, headers=exc.headers)


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    """The 500 handler, which Starlette's ``ServerErrorMiddleware`` calls for any exception left.

    It runs inside the request context, so the Sentry event and the log line carry the request id
    (Sentry's own ASGI integration would see the exception only after the id is unbound, and it
    never sees it at all since ``StopAnsweredErrors`` stops it). This module's logger is left out
    of Sentry's logging integration: the exception is reported once, with its stack.
    """
    sentry_sdk.capture_exception(exc)
    log.error(
        "unhandled_exception",
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    request.scope[_ANSWERED] = exc
    return error_response(500, "internal_error", _MESSAGES[500])


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class StopAnsweredErrors:
    """Pure ASGI: stop the exception the 500 handler has already answered, logged and reported.

    Starlette re-raises it after the 500 response "so that the server can log it"; uvicorn would
    log the same traceback a second time, without the request id. Any other exception goes on.
    Sits right outside ``ServerErrorMiddleware``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope.get(_ANSWERED) is not exc:
                raise


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
