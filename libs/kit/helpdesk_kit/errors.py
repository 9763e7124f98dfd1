"""The one error shape of every helpdesk HTTP API.

``{"code": "validation_error", "message": "...", "details": {"field": ["..."]},
"request_id": "..."}``
``code`` is stable and machine-readable, ``message`` is for people, ``details`` maps a field (or
``non_field_errors``) to its messages and is empty when no field is at fault.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict


class ErrorBody(TypedDict):
    code: str
    message: str
    details: dict[str, list[str]]
    request_id: str | None


def error_body(
    code: str,
    message: str,
    request_id: str | None,
    details: Mapping[str, Sequence[str]] | None = None,
) -> ErrorBody:
    return {
        "code": code,
        "message": message,
        "details": {field: list(msgs) for field, msgs in (details or {}).items()},
        "request_id": request_id,
    }


def pydantic_details(errors: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Field details from pydantic's ``ValidationError.errors()``: ``a.b.0`` → messages.

    The leading location part (``body``, ``query``…) that FastAPI adds is dropped.
    """
    details: dict[str, list[str]] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header", "cookie"}:
            loc = loc[1:]
        field = ".".join(loc) or "non_field_errors"
        details.setdefault(field, []).append(str(err.get("msg", "invalid")))
    return details
