"""gunicorn settings for the core: sync workers (ceilings.md), logs through the JSON logger."""

import logging
import os
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from helpdesk_kit.logging import configure_logging

bind = os.environ.get("CORE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Import the app once in the master: workers fork ready to serve, with no slow first request.
preload_app = True
# gunicorn's runtime control socket (gunicornc) is not used; one per user would be shared by
# every gunicorn on the machine.
control_socket_disable = True


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own lines (start, workers, errors) in the same JSON shape as the app's.

    Requests are logged by helpdesk.common.middleware, with the request id; gunicorn's access
    log stays off.
    """

    def setup(self, cfg: Any) -> None:
        configure_logging("core", os.environ.get("LOG_LEVEL", "INFO"))
        self.error_log = logging.getLogger("gunicorn.error")
        self.access_log = logging.getLogger("gunicorn.access")


logger_class = JsonLogger
accesslog = None


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live metrics files (PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]
