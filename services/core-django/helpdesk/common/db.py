"""Timestamps read by psycopg's C loader instead of Django's Python one.

Django reads ``timestamptz`` columns through a Python subclass of psycopg's loader (to attach its
connection time zone), which keeps psycopg's compiled loader out of use: on a list page of 50
tickets, parsing ~450 timestamps in Python was a tenth of the request. With ``USE_TZ`` the
connection's zone is UTC, and psycopg's compiled loader already answers UTC datetimes with
``datetime.timezone.utc``, the very value Django attaches; so on PostgreSQL, when the compiled
implementation is installed, each new connection reads timestamps with the compiled loader.
"""

from datetime import UTC
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def _compiled_loader() -> type | None:
    try:
        from psycopg import pq
        from psycopg.adapt import Loader
    except ImportError:
        return None
    if pq.__impl__ != "binary":
        return None
    from psycopg_binary import _psycopg

    class UtcTimestamptzLoader(Loader):
        """psycopg's compiled loader (a final class: held, not subclassed), marked with the
        zone Django checks before every cursor (``DatabaseWrapper.create_cursor``)."""

        timezone = UTC

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            compiled = _psycopg.TimestamptzLoader(oid, context)  # type: ignore[attr-defined]
            self.load = compiled.load  # type: ignore[method-assign]

        def load(self, data: Any) -> Any:  # replaced per instance by the compiled one
            raise NotImplementedError

    return UtcTimestamptzLoader


_LOADER = _compiled_loader()


def use_compiled_timestamp_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver."""
    if _LOADER is None or connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    connection.connection.adapters.register_loader("timestamptz", _LOADER)
