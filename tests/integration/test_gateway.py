"""The gateway as the seed describes it (C10, C12-C14, C19, C31-C35, C38), checked on a real
nginx with the seed's rate limits, in front of the same running services."""

import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpdesk_shared.access import ROOM_ACCESS_PATH
from helpdesk_shared.triage import TRIAGE_PATH
from tools.stack import (
    GatewaySettings,
    Stack,
    ensure_tls_files,
    free_port,
    gateway_values,
    nginx_binary,
    render_gateway,
    wait_healthy,
)

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}
TRUSTED_PROXY = "127.0.0.2"


@dataclass(frozen=True)
class Gateway:
    conf: Path
    http_port: int
    https_port: int
    tls: ssl.SSLContext

    @property
    def https(self) -> str:
        return f"https://localhost:{self.https_port}"

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A client whose connections come from ``source`` (any 127/8 address is local)."""
        transport = httpx.HTTPTransport(verify=self.tls, local_address=source)
        return httpx.Client(base_url=self.https, transport=transport, timeout=10)


@pytest.fixture(scope="module")
def seed_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    nginx = nginx_binary()
    assert nginx is not None
    run_dir = tmp_path_factory.mktemp("seed-gateway")
    http_port, https_port = free_port(), free_port()
    tls = ensure_tls_files(stack.cfg.tls_dir)
    conf = render_gateway(
        gateway_values(
            host="127.0.0.1",
            port=http_port,
            tls_port=https_port,
            core=[f"127.0.0.1:{stack.cfg.core_port}"],
            ai=[f"127.0.0.1:{stack.cfg.ai_port}"],
            realtime=[f"127.0.0.1:{stack.cfg.realtime_port}"],
            tls=tls,
            settings=GatewaySettings(trusted_proxies=(f"{TRUSTED_PROXY}/32",)),
        ),
        run_dir,
    )
    log = (run_dir / "nginx.log").open("wb")
    process = subprocess.Popen(
        [nginx, "-p", str(run_dir), "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy({"gateway": f"http://127.0.0.1:{http_port}/health/"}, 20)
        yield Gateway(conf, http_port, https_port, ssl.create_default_context(cafile=str(tls[0])))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
        log.close()


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], (response.status_code, name)
    csp = response.headers.get_list("content-security-policy")
    assert len(csp) == 1
    assert "default-src 'self'" in csp[0]
    assert "frame-ancestors 'none'" in csp[0]


def test_c10_c14_c38_nginx_accepts_the_configuration(seed_gateway: Gateway) -> None:
    nginx = nginx_binary()
    assert nginx is not None
    result = subprocess.run(
        [nginx, "-t", "-p", str(seed_gateway.conf.parent), "-c", str(seed_gateway.conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_c31_to_c35_security_headers_on_success_errors_and_proxied_responses(
    seed_gateway: Gateway,
) -> None:
    with seed_gateway.client() as client:
        _assert_security_headers(client.get("/health/"))  # 200 from nginx
        _assert_security_headers(client.get("/no/such/page"))  # 404 from nginx
        proxied = client.get("/api/v1/me")  # 401 from core, which sets some of them too
        assert proxied.status_code == 401
        _assert_security_headers(proxied)  # ...yet each is sent once
    responses, _ = _hammer(seed_gateway, "127.0.0.11", "/api/v1/me", 60)
    limited = [r for r in responses if r.status_code == 429]
    assert limited
    _assert_security_headers(limited[0])


def test_c30_plain_http_redirects_to_https(seed_gateway: Gateway) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{seed_gateway.http_port}/api/v1/tickets/?page=2",
        headers={"Host": "localhost"},
    )
    assert response.status_code == 301
    assert response.headers["location"] == (
        f"https://localhost:{seed_gateway.https_port}/api/v1/tickets/?page=2"
    )


def _s_client(port: int, *args: str) -> str:
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args],
        input="",
        capture_output=True,
        text=True,
        # s_client also prints what the server sends after the handshake: with h2, nginx's
        # binary SETTINGS frame (128 concurrent streams is a 0x80 byte), not UTF-8.
        errors="replace",
        timeout=20,
        check=False,
    )
    return result.stdout + result.stderr


def test_c10_tls_1_1_is_refused_and_1_2_and_1_3_are_accepted(seed_gateway: Gateway) -> None:
    # SECLEVEL=0 lets this client offer TLS 1.1: the refusal must come from the server.
    old = _s_client(seed_gateway.https_port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert "New, (NONE), Cipher is (NONE)" in old
    assert re.search(r"alert protocol version|no protocols available|handshake failure", old)
    assert re.search(
        r"New, TLSv1\.2, Cipher is ECDHE-", _s_client(seed_gateway.https_port, "-tls1_2")
    )
    assert re.search(
        r"New, TLSv1\.3, Cipher is TLS_", _s_client(seed_gateway.https_port, "-tls1_3")
    )


def test_http2_is_offered(seed_gateway: Gateway) -> None:
    assert "ALPN protocol: h2" in _s_client(seed_gateway.https_port, "-alpn", "h2,http/1.1")


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_c14_c19_proxied_json_is_compressed(seed_gateway: Gateway, encoding: str) -> None:
    with seed_gateway.client() as client:
        plain = client.get("/ai/openapi.json", headers={"Accept-Encoding": "identity"})
        compressed = client.get("/ai/openapi.json", headers={"Accept-Encoding": encoding})
    assert plain.status_code == compressed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert compressed.headers["content-encoding"] == encoding
    assert "Accept-Encoding" in compressed.headers["vary"]
    assert compressed.json() == plain.json()  # httpx decodes both encodings


def test_c14_small_responses_are_not_compressed(seed_gateway: Gateway) -> None:
    with seed_gateway.client() as client:
        response = client.get("/health/", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in response.headers


def _hammer(
    gateway: Gateway,
    source: str,
    path: str,
    count: int,
    headers: Callable[[int], dict[str, str]] = lambda _: {},
) -> tuple[list[httpx.Response], float]:
    """``count`` requests from ``source``, 16 at a time; the responses and the time taken."""
    with gateway.client(source) as client, ThreadPoolExecutor(16) as pool:
        started = time.monotonic()
        responses = list(pool.map(lambda i: client.get(path, headers=headers(i)), range(count)))
        return responses, time.monotonic() - started


def _assert_limited(
    responses: list[httpx.Response], elapsed: float, per_second: float, burst: int
) -> None:
    """Exactly what a token bucket allows: the burst at once, then the rate, and no more."""
    allowed = sum(r.status_code != 429 for r in responses)
    assert allowed >= min(len(responses), burst)
    assert allowed <= burst + per_second * elapsed + 1
    assert len(responses) > burst + per_second * elapsed + 1, "too slow to show the limit"
    assert any(r.status_code == 429 for r in responses)


def test_c38_api_is_limited_per_client_with_429_and_retry_after(seed_gateway: Gateway) -> None:
    responses, elapsed = _hammer(seed_gateway, "127.0.0.12", "/api/v1/me", 60)
    _assert_limited(responses, elapsed, per_second=10, burst=20)
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["code"] == "throttled"
    assert limited.json()["request_id"]
    with seed_gateway.client("127.0.0.13") as other:  # another client is not affected
        assert other.get("/api/v1/me").status_code == 401


def test_c38_sign_in_is_limited_to_5_per_minute(seed_gateway: Gateway) -> None:
    responses, elapsed = _hammer(seed_gateway, "127.0.0.14", "/admin/login/", 8)
    _assert_limited(responses, elapsed, per_second=5 / 60, burst=3)
    assert {r.status_code for r in responses} == {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["retry-after"] == "12"


def test_c38_forwarded_client_address_is_trusted_only_from_the_load_balancer(
    seed_gateway: Gateway,
) -> None:
    # From the trusted proxy, each forwarded client has a bucket of its own...
    responses, _ = _hammer(
        seed_gateway,
        TRUSTED_PROXY,
        "/api/v1/me",
        60,
        headers=lambda i: {"X-Forwarded-For": f"203.0.113.{i}"},
    )
    assert all(r.status_code == 401 for r in responses)
    # ...while anyone else's X-Forwarded-For is ignored: one client, one bucket.
    responses, elapsed = _hammer(
        seed_gateway,
        "127.0.0.15",
        "/api/v1/me",
        60,
        headers=lambda i: {"X-Forwarded-For": f"198.51.100.{i}"},
    )
    _assert_limited(responses, elapsed, per_second=10, burst=20)


@pytest.mark.parametrize("path", [ROOM_ACCESS_PATH, TRIAGE_PATH])
def test_core_internal_endpoints_are_not_found_through_the_gateway(
    seed_gateway: Gateway, stack: Stack, path: str
) -> None:
    """ai and realtime call core's /api/v1/internal/ directly; through the gateway nothing is
    there, in the gateway's one error shape, whatever the spelling and even with the service
    credential. Core itself still answers the credential at the same path."""
    credential = {"Authorization": f"Bearer {stack.cfg.service_token}"}
    core = stack.cfg.url("core")
    # Core decodes %-escapes before routing, so an escaped spelling is the same endpoint there.
    escaped = path.replace("/internal/", "/%69nternal/")
    for direct in (path, escaped):
        answer = httpx.post(f"{core}{direct}", json={}, headers=credential, timeout=10)
        # 400: the call reached the endpoint and was authenticated (an empty body is invalid).
        assert (answer.status_code, answer.json()["code"]) == (400, "validation_error"), direct
    assert httpx.post(f"{core}{path}", json={}, timeout=10).status_code == 401
    spellings = [path, escaped, path.replace("/api/", "/api//"), f"{path}?format=json"]
    with seed_gateway.client() as client:
        for spelling in spellings:
            response = client.post(spelling, json={}, headers=credential)
            assert response.status_code == 404, spelling
            body = response.json()
            assert body["request_id"], spelling
            assert body == {
                "code": "not_found",
                "message": "Nothing is here.",
                "details": {},
                "request_id": body["request_id"],
            }, spelling
            _assert_security_headers(response)
        # Only the internal endpoints: the rest of the API is still core's.
        assert client.get("/api/v1/me").status_code == 401


def test_c12_hashed_static_files_are_public_and_immutable(
    seed_gateway: Gateway, stack: Stack
) -> None:
    manifest = (stack.cfg.run_dir / "static" / "staticfiles.json").read_text()
    hashed = re.search(r'"admin/css/base.css": "([^"]+)"', manifest)
    assert hashed is not None
    with seed_gateway.client() as client:
        response = client.get(f"/static/{hashed.group(1)}")
    assert response.status_code == 200
    cache = response.headers["cache-control"]
    assert "public" in cache
    assert "immutable" in cache


def test_c13_private_api_responses_are_never_cached_publicly(
    seed_gateway: Gateway, demo: dict[str, object]
) -> None:
    token = demo["orgs"][0]["agents"][0]["token"]  # type: ignore[index]
    with seed_gateway.client() as client:
        response = client.get("/api/v1/tickets/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"


def test_c23_access_log_is_json_with_the_request_id_and_upstream_timing(
    stack: Stack, tls_context: ssl.SSLContext
) -> None:
    gateway = stack.cfg.url("gateway")
    assert gateway is not None
    request_id = f"log-{time.monotonic_ns()}"
    response = httpx.get(
        f"{gateway}/api/v1/me", headers={"X-Request-ID": request_id}, verify=tls_context
    )
    assert response.status_code == 401
    deadline = time.monotonic() + 10
    while not (
        lines := [x for x in stack.log_lines("gateway") if x.get("request_id") == request_id]
    ):
        assert time.monotonic() < deadline, "no access log line"
        time.sleep(0.05)
    line = lines[0]
    assert line["service"] == "gateway"
    assert line["uri"] == "/api/v1/me"
    assert line["status"] == 401
    assert line["upstream_status"] == "401"
    assert float(str(line["upstream_time"])) >= 0
