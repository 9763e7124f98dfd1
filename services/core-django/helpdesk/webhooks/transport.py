"""One HTTP POST to a receiver, with the standard library (no client library needed at run time).

Why not urllib.request: it follows redirects (a receiver could bounce the worker to an internal
address) and resolves the host on its own, after any check of ours. Here the host is resolved
once, every address checked, and the connection made to the checked address, while TLS
(SNI and certificate) and the Host header still use the name. Redirects are failures.
"""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from helpdesk.webhooks.addresses import UnsafeAddressError, is_public_address

# Only the start of a receiver's answer is read and kept: enough to debug, never a memory risk.
READ_LIMIT_BYTES = 4096
EXCERPT_CHARS = 1000
ERROR_CHARS = 500


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int
    retry_after_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


_TLS_CONTEXT = ssl.create_default_context()


def _resolve(host: str, port: int, *, allow_private: bool) -> str:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeAddressError(f"{host} resolves to no address")
    if not allow_private:
        refused = [a for a in addresses if not is_public_address(a)]
        if refused:
            raise UnsafeAddressError(f"{host} resolves to a non-public address ({refused[0]})")
    return addresses[0]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare from webhook receivers, and the back-off applies anyway


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
) -> SendResult:
    """POST ``body``; never raises. ``timeout`` bounds the connect and each read."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection | None = None
    try:
        address = _resolve(host, port, allow_private=allow_private)
        connection = (
            _PinnedHTTPSConnection(
                host, port, address=address, timeout=timeout, context=_TLS_CONTEXT
            )
            if https
            else _PinnedHTTPConnection(host, port, address=address, timeout=timeout)
        )
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(READ_LIMIT_BYTES).decode("utf-8", "replace")[:EXCERPT_CHARS]
        return SendResult(
            status_code=response.status,
            response_excerpt=excerpt,
            error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
            duration_ms=elapsed_ms(),
            retry_after_seconds=_retry_after(response.getheader("Retry-After")),
        )
    except (OSError, http.client.HTTPException, UnsafeAddressError, UnicodeError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return SendResult(None, "", error[:ERROR_CHARS], elapsed_ms())
    finally:
        if connection is not None:
            connection.close()
