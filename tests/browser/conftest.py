"""The whole platform behind the real gateway (TLS, HTTP/2), driven by Debian's chromium.

One stack per session, as in tests/integration: PostgreSQL (a database of its own), a
redis-server of its own, core, relay, SLA scheduler, webhooks, ai and its worker, one realtime
node (so that restarting it is a real outage) and nginx. The dashboard's bundle is built first
(frontend/build.sh), then collected. The core's sign-in limit is raised (``LOGIN_RATE_LIMIT``):
these tests sign in many times from one address; the limit itself is tested in core's tests.
Every test saves a screenshot under test-artifacts/.
"""

import json
import os
import re
import secrets
import ssl
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tools.stack import (
    CORE_DIR,
    ROOT,
    Config,
    GatewaySettings,
    RedisServer,
    Stack,
    free_port,
    gateway_available,
    prepare_core,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
SERVER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")
LAPTOP: ViewportSize = {"width": 1366, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"helpdesk_browser_{uuid.uuid4().hex[:10]}"
    base = SERVER_URL.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not gateway_available():
        pytest.fail("nginx with brotli is required for the browser tests (make test installs it)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is required at {CHROMIUM}: apt-get install -y chromium")
    subprocess.run([str(CORE_DIR / "frontend" / "build.sh")], check=True)
    run_dir = tmp_path_factory.mktemp("browser-stack")
    redis = RedisServer(port=free_port(), workdir=run_dir / "redis")
    redis.start()
    cfg = Config(
        run_dir=run_dir,
        redis_url=redis.url,
        secret_key=secrets.token_urlsafe(64),
        realtime_secret=secrets.token_urlsafe(48),
        database_url=database_url,
        core_port=free_port(),
        ai_port=free_port(),
        realtime_port=free_port(),
        gateway_port=free_port(),
        gateway_tls_port=free_port(),
        gateway=GatewaySettings(api_rate="1000r/s", api_burst=1000),
        events_stream=f"browser:events:{uuid.uuid4().hex[:8]}",
        extra_env={"LOGIN_RATE_LIMIT": "1000/minute", "REALTIME_MAX_CONNECTIONS_PER_USER": "100"},
    )
    prepare_core(cfg, demo_output=run_dir / "demo.json")
    running = Stack(cfg)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        redis.stop()


@pytest.fixture(scope="session")
def demo(stack: Stack) -> dict[str, Any]:
    return dict(json.loads((stack.cfg.run_dir / "demo.json").read_text()))


@pytest.fixture(scope="session")
def acme(demo: dict[str, Any]) -> dict[str, Any]:
    return dict(next(org for org in demo["orgs"] if org["slug"] == "acme"))


@pytest.fixture(scope="session")
def gateway(stack: Stack) -> str:
    url = stack.cfg.url("gateway")
    assert url is not None
    return url


@pytest.fixture(scope="session")
def api(gateway: str, stack: Stack) -> Iterator[httpx.Client]:
    """The REST API through the gateway, verifying its certificate."""
    tls = ssl.create_default_context(cafile=str(stack.cfg.tls_dir / "cert.pem"))
    with httpx.Client(base_url=gateway, verify=tls, timeout=15) as client:
        yield client


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()


SignIn = Callable[..., Page]


@pytest.fixture
def sign_in(browser: Browser, gateway: str) -> Iterator[SignIn]:
    """A new browser context (its own cookies) signed in as ``user`` through the login form."""
    contexts: list[BrowserContext] = []

    def open_as(
        user: dict[str, Any], path: str = "/app/", viewport: ViewportSize | None = None
    ) -> Page:
        context = browser.new_context(
            base_url=gateway,
            ignore_https_errors=True,
            viewport=viewport or LAPTOP,
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(f"/app/login/?next={path}")
        page.get_by_label("Email address").fill(user["email"])
        page.get_by_label("Password").fill(user["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(re.escape(path) + r"$"))
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a screenshot as test-artifacts/<test>-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page: Page, name: str = "") -> Path:
        path = ARTIFACTS / f"{request.node.name}{'-' + name if name else ''}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def expect_live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", re.compile("live|resynced"))
