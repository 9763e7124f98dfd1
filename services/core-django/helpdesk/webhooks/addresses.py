"""Which endpoint URLs are acceptable, and which addresses the worker may connect to."""

import ipaddress
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class UnsafeAddressError(ValueError):
    """The host resolves to an address the worker must not call."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problems(url: str, *, allow_http: bool, allow_private: bool) -> list[str]:
    """What is wrong with ``url`` as a webhook endpoint (empty when nothing is)."""
    if len(url) > MAX_URL_LENGTH:
        return [f"Use at most {MAX_URL_LENGTH} characters."]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["Enter a valid URL."]
    problems = []
    schemes = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in schemes:
        problems.append("The URL must start with https://.")
    if not parts.hostname:
        problems.append("The URL needs a host.")
    if parts.username is not None or parts.password is not None:
        problems.append("Credentials in the URL are not supported; the signature authenticates.")
    if parts.fragment:
        problems.append("The URL must not have a #fragment.")
    if port == 0:
        problems.append("Enter a valid port.")
    host = parts.hostname or ""
    if not allow_private and host:
        if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
            problems.append("The host must be reachable on the public internet.")
        else:
            try:
                if not is_public_address(host):
                    problems.append("The host must be reachable on the public internet.")
            except ValueError:
                pass  # a name: checked again, once resolved, at every delivery
    return problems
