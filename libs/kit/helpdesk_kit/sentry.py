"""Sentry, on when a DSN is given (seed C20), with the request id as a tag on every event."""

from collections.abc import Sequence
from typing import Any

import sentry_sdk
from sentry_sdk.integrations import Integration

from helpdesk_kit.request_id import current_request_id


def _tag_request_id(event: Any, _hint: Any) -> Any:
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(
    dsn: str | None,
    *,
    service: str,
    environment: str,
    integrations: Sequence[Integration] = (),
    traces_sample_rate: float = 0.0,
) -> bool:
    """Initialise Sentry when ``dsn`` is set; return whether it was."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        server_name=service,
        integrations=list(integrations),
        traces_sample_rate=traces_sample_rate,
        before_send=_tag_request_id,
    )
    sentry_sdk.set_tag("service", service)
    return True
