"""JSON log lines on stdout, one object per line, with the request id when there is one.

structlog renders both its own loggers and the standard library's (Django, gunicorn, uvicorn),
so every line of a service has the same shape: ``timestamp``, ``level``, ``logger``, ``event``,
``service`` and whatever the context bound (``request_id``). When ``log_file`` is set the same
lines also go to a rotating file (15 MB x 10) and errors to ``<log_file>.error`` (seed C21);
in containers stdout is the log.
"""

import logging
import logging.config
import sys
from typing import Any

import structlog

ROTATE_BYTES = 15 * 1024 * 1024
ROTATE_BACKUPS = 10


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the moment of writing, not at configuration.

    Tools that swap stdout (pytest's capture, a process manager) then still get the lines.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _shared_processors(service: str) -> list[Any]:
    def add_service(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
    ]


def configure_logging(
    service: str, level: str = "INFO", *, log_file: str | None = None, json: bool = True
) -> None:
    shared = _shared_processors(service)
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    handlers: dict[str, dict[str, Any]] = {
        "stdout": {"()": StdoutHandler, "formatter": "json"},
    }
    if log_file:
        rotating = {
            "class": "logging.handlers.RotatingFileHandler",
            "maxBytes": ROTATE_BYTES,
            "backupCount": ROTATE_BACKUPS,
            "formatter": "json",
            "encoding": "utf-8",
        }
        handlers["file"] = {**rotating, "filename": log_file}
        handlers["error_file"] = {**rotating, "filename": f"{log_file}.error", "level": "ERROR"}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": shared,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                }
            },
            "handlers": handlers,
            "root": {"handlers": list(handlers), "level": level.upper()},
            "loggers": {
                # The services log their own access line with the request id; these would repeat it.
                "uvicorn.access": {"handlers": [], "propagate": False},
                "gunicorn.access": {"handlers": [], "propagate": False},
                "uvicorn.error": {"handlers": list(handlers), "propagate": False},
                "gunicorn.error": {"handlers": list(handlers), "propagate": False},
            },
        }
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
