"""The request id: taken from ``X-Request-ID`` when it is sane, made up otherwise.

The gateway sets the header; each service logs it, returns it, passes it on in HTTP calls and
writes it into the events it causes. A client-supplied id is kept only if it is short and plain,
so that nobody can inject text into log lines through it.
"""

import re
import uuid
from contextvars import ContextVar
from typing import Final

import structlog

HEADER: Final = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_or_new(incoming: str | None) -> str:
    """The incoming id if it is a plain token of at most 128 characters, else a new one."""
    if incoming and _VALID.fullmatch(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return _current.get()


def bind_request_id(request_id: str | None) -> None:
    """Make ``request_id`` the current one, for this context's log lines and events."""
    _current.set(request_id)
    if request_id is None:
        structlog.contextvars.unbind_contextvars("request_id")
    else:
        structlog.contextvars.bind_contextvars(request_id=request_id)
