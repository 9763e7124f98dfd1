"""docker-compose.prod.yml (seed C25, C39, C50, C52, C57): valid against the Compose
Specification's schema, and saying what the seed and the platform's design say.

Compose's own variable interpolation is done here (there is no Docker engine, nor compose, on
this machine): ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}`` and ``$$``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.deploy.conftest import (
    PYTHON_IMAGES,
    ROOT,
    Stage,
    core_answers,
    core_check_deploy,
    core_example_values,
    core_internal_calls,
    core_rate_limiting,
    entrypoint_template_vars,
    tool,
)

COMPOSE_FILE = ROOT / "docker-compose.prod.yml"
ENV_EXAMPLE = ROOT / ".env.prod.example"

CORE_WORKERS = {"relay", "sla-scheduler", "webhook-worker"}
LONG_RUNNING = {"web", *CORE_WORKERS, "ai", "ai-worker", "realtime", "nginx", "postgres", "redis"}
ONE_OFF = {"migrate", "collectstatic", "ai-models-init"}
CORE_IMAGE_USERS = {"web", *CORE_WORKERS, "migrate", "collectstatic"}
AI_IMAGE_USERS = {"ai", "ai-worker", "ai-models-init"}
# The services that call core's internal endpoints with the service credential.
CORE_CALLERS = {"ai", "ai-worker", "realtime"}
AI_MODEL_DIR = "/var/lib/helpdesk-ai/models"
SECRETS = {
    "DJANGO_SECRET_KEY",
    "REALTIME_TOKEN_SECRET",
    "HELPDESK_SERVICE_TOKEN",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|AUTH|_KEY$")
# The variable that tags each image built here (so that each service is redeployed alone).
TAG_VARIABLES = {
    "web": "CORE_IMAGE_TAG",
    "ai": "AI_IMAGE_TAG",
    "realtime": "REALTIME_IMAGE_TAG",
    "nginx": "GATEWAY_IMAGE_TAG",
}
DOCKERFILE_OF = {"web": "core", "ai": "ai", "realtime": "realtime", "nginx": "gateway"}

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of a file's text."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and (value is None or empty):
            return arg
        if op in (":?", "?") and (value is None or empty):
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return _REFERENCE.sub(replace, text)


def references(text: str) -> list[re.Match[str]]:
    return [m for m in _REFERENCE.finditer(text) if not m.group("escaped")]


def example_values() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=value: {line!r}"
            values[key.strip()] = value
    return values


def dummy_environment() -> dict[str, str]:
    """The example file filled in the way an operator would."""
    env = example_values()
    env.update(
        CORE_IMAGE_TAG="core-1",
        AI_IMAGE_TAG="ai-1",
        REALTIME_IMAGE_TAG="realtime-1",
        GATEWAY_IMAGE_TAG="gateway-1",
        DJANGO_SECRET_KEY="k" * 10 + "abcdefghij" * 5,
        REALTIME_TOKEN_SECRET="r" * 10 + "abcdefghij" * 3,
        HELPDESK_SERVICE_TOKEN="s" * 10 + "abcdefghij" * 3,
        POSTGRES_PASSWORD="pg-pass-word",
        REDIS_PASSWORD="redis-pass-word",
        DJANGO_ALLOWED_HOSTS="helpdesk.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://helpdesk.example.com",
        TLS_CERT_DIR="/etc/helpdesk/tls",
    )
    return env


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written: ``${...}`` references still in place."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as compose sees it with a filled-in .env."""
    data = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), dummy_environment()))
    assert isinstance(data, dict)
    return data


def services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = data["services"]
    assert isinstance(result, dict)
    return result


# --- The file is valid Compose --------------------------------------------------------------


def test_c39_c57_valid_against_the_compose_specification_schema(tmp_path: Path) -> None:
    rendered = tmp_path / "docker-compose.prod.yml"
    rendered.write_text(interpolate(COMPOSE_FILE.read_text(), dummy_environment()))
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_c39_the_schema_check_does_catch_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = interpolate(COMPOSE_FILE.read_text(), dummy_environment())
    broken.write_text(text.replace("stop_grace_period:", "stop_grace_periods:", 1))
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


# --- The seed's commands (C57) ------------------------------------------------------------


def test_c57_the_seeds_commands_find_the_core_as_web(
    compose: dict[str, Any], dockerfiles: dict[str, list[Stage]]
) -> None:
    """`docker-compose -f docker-compose.prod.yml build` / `up -d`, then, without -f,
    `docker-compose exec web python manage.py migrate` and `... collectstatic --noinput`."""
    web = services(compose)["web"]
    assert web["build"]["dockerfile"] == "services/core-django/Dockerfile"
    assert web["restart"] == "unless-stopped"  # running, so that `exec` has a container
    # Without -f, compose finds the file through COMPOSE_FILE in .env (a copy of the example).
    assert example_values()["COMPOSE_FILE"] == COMPOSE_FILE.name
    # `python manage.py` works in the container: the venv is on PATH, manage.py in WORKDIR.
    runtime = dockerfiles["core"][-1]
    assert runtime.env()["PATH"].startswith("/opt/venv/bin:")
    workdir = runtime.last("WORKDIR").args
    assert any(
        copy.args.split() == ["services/core-django/manage.py", "./"]
        for copy in runtime.all("COPY")
    )
    assert workdir == "/app"
    # collectstatic writes where web serves from, a volume the runtime user can write.
    static_root = runtime.env()["DJANGO_STATIC_ROOT"]
    assert f"static:{static_root}" in web["volumes"]


# --- Services, images and tags ------------------------------------------------------------


def test_c39_the_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == LONG_RUNNING | ONE_OFF


def test_c39_web_its_workers_and_the_one_off_steps_share_the_core_image(
    raw: dict[str, Any],
) -> None:
    images = {services(raw)[name]["image"] for name in CORE_IMAGE_USERS}
    assert len(images) == 1
    (image,) = images
    assert "${CORE_IMAGE_TAG:?" in image
    assert services(raw)["relay"]["command"] == ["python", "manage.py", "run_outbox_relay"]
    assert services(raw)["sla-scheduler"]["command"] == [
        "python",
        "manage.py",
        "run_sla_scheduler",
    ]
    assert services(raw)["webhook-worker"]["command"] == [
        "python",
        "manage.py",
        "run_webhook_worker",
    ]


def test_c39_the_ai_service_and_its_worker_share_the_ai_image(
    raw: dict[str, Any], dockerfiles: dict[str, list[Stage]]
) -> None:
    images = {services(raw)[name]["image"] for name in AI_IMAGE_USERS}
    assert len(images) == 1
    (image,) = images
    assert "${AI_IMAGE_TAG:?" in image
    assert "command" not in services(raw)["ai"], "ai runs the image's CMD (uvicorn)"
    assert services(raw)["ai-worker"]["command"] == ["python", "-m", "app.worker"]
    # `python -m app.worker` from the image's WORKDIR finds the worker package.
    runtime = dockerfiles["ai"][-1]
    workdir = runtime.last("WORKDIR").args
    copies = [copy.args.split() for copy in runtime.all("COPY")]
    assert ["services/ai-fastapi/app/", "app/"] in copies
    assert workdir == "/app"
    assert (ROOT / "services/ai-fastapi/app/worker/__main__.py").is_file()


def test_c39_c54_each_built_image_has_its_own_tag_variable(
    raw: dict[str, Any], compose: dict[str, Any]
) -> None:
    built = {name for name, service in services(raw).items() if "build" in service}
    assert built == CORE_IMAGE_USERS | AI_IMAGE_USERS | {"realtime", "nginx"}
    for name, variable in TAG_VARIABLES.items():
        image = services(raw)[name]["image"]
        assert re.search(rf":\$\{{{variable}:\?[^}}]*\}}$", image), image
    tags = {services(compose)[name]["image"].rsplit(":", 1)[1] for name in TAG_VARIABLES}
    assert tags == {"core-1", "ai-1", "realtime-1", "gateway-1"}
    for name, dockerfile in DOCKERFILE_OF.items():
        service = services(compose)[name]
        assert service["build"]["context"] == "."
        expected = {
            "core": "services/core-django/Dockerfile",
            "ai": "services/ai-fastapi/Dockerfile",
            "realtime": "services/realtime/Dockerfile",
            "gateway": "gateway/nginx/Dockerfile",
        }[dockerfile]
        assert service["build"]["dockerfile"] == expected


def test_c39_third_party_images_are_the_seeds(compose: dict[str, Any]) -> None:
    assert services(compose)["postgres"]["image"] == "postgres:15"
    assert services(compose)["redis"]["image"] == "redis:7"


# --- Health checks, restarts, limits (C25, C39, C50) ----------------------------------------


def test_c25_c39_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        healthcheck = services(compose)[name].get("healthcheck", {})
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test"), name
        assert {"interval", "timeout", "retries", "start_period"} <= set(healthcheck), name


def test_c25_compose_health_checks_are_the_images_own(
    compose: dict[str, Any], dockerfiles: dict[str, list[Stage]]
) -> None:
    for name, dockerfile in DOCKERFILE_OF.items():
        image_check = dockerfiles[dockerfile][-1].last("HEALTHCHECK").exec_form()
        assert services(compose)[name]["healthcheck"]["test"] == ["CMD", *image_check], name


def test_c39_restart_policies(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        assert services(compose)[name]["restart"] == "unless-stopped", name
    for name in ONE_OFF:
        assert services(compose)[name]["restart"] == "no", name


def limits(service: dict[str, Any]) -> dict[str, Any]:
    result = service["deploy"]["resources"]["limits"]
    assert isinstance(result, dict)
    return result


def memory_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kmg]?)b?", value.lower())
    assert match is not None, value
    unit = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}[match.group(2)]
    return int(match.group(1)) * unit


def test_c50_the_three_services_and_the_new_workers_get_two_cpus_and_4_gb(
    compose: dict[str, Any],
) -> None:
    for name in ("web", "ai", "realtime", "sla-scheduler", "webhook-worker", "ai-worker"):
        assert float(limits(services(compose)[name])["cpus"]) == 2.0, name
        assert memory_bytes(str(limits(services(compose)[name])["memory"])) == 4 * 1024**3, name


def test_c39_every_long_running_service_is_limited(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        assert {"cpus", "memory"} <= set(limits(services(compose)[name])), name


def test_c39_our_images_run_without_privileges(compose: dict[str, Any]) -> None:
    for name in CORE_IMAGE_USERS | AI_IMAGE_USERS | {"realtime", "nginx"}:
        service = services(compose)[name]
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        if name != "ai-models-init":
            assert "user" not in service, f"{name}: the image's own non-root USER applies"
            assert "cap_add" not in service, name


def test_c39_the_model_volume_is_made_writable_by_a_one_off_with_one_capability(
    compose: dict[str, Any],
) -> None:
    """A new named volume is root-owned when the image has no folder at its path (the ai image
    has none); the one exception to "never root" does exactly one chown and nothing else."""
    init = services(compose)["ai-models-init"]
    assert init["user"] == "0:0"
    assert init["cap_add"] == ["CHOWN"]
    assert init["network_mode"] == "none"
    assert init["volumes"] == [f"ai-models:{AI_MODEL_DIR}"]
    assert init["command"] == [
        "python",
        "-c",
        f"import os; os.chown('{AI_MODEL_DIR}', 10001, 10001)",
    ]
    # 10001 is the ai image's user.
    user = PYTHON_IMAGES["ai"][0].read_text()
    assert re.search(r"^USER 10001:10001$", user, re.M)
    for name in ("ai", "ai-worker"):
        assert services(compose)[name]["depends_on"]["ai-models-init"] == {
            "condition": "service_completed_successfully"
        }


def test_c25_the_relays_health_check_reports_a_stuck_outbox(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The relay's probe, from the core's folder as in the container, on a fresh SQLite
    database: run three times in one process (Django starts once), as the probe's code."""
    command = services(compose)["relay"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    driver = f"""
import datetime, uuid
import django
django.setup()
from django.core.management import call_command
from django.utils import timezone
from helpdesk.outbox.models import OutboxEvent

def probe():
    try:
        exec({command[3]!r}, {{}})
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0

call_command("migrate", interactive=False, verbosity=0)
results = [probe()]
OutboxEvent.objects.create(
    event_id=uuid.uuid4(), event_type="ticket.created", organization_id=1,
    partition_key="t1", payload="{{}}",
    created_at=timezone.now() - datetime.timedelta(minutes=10),
)
results.append(probe())
OutboxEvent.objects.update(published_at=timezone.now())
results.append(probe())
print(results)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        ENVIRONMENT="local",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="relay-probe-test-" + "abcdefghij" * 5,
        REALTIME_TOKEN_SECRET="relay-probe-test-" + "x" * 32,
        SQLITE_PATH=str(tmp_path / "core.sqlite3"),
    )
    result = subprocess.run(
        [sys.executable, "-c", driver],
        cwd=ROOT / "services/core-django",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Healthy when empty; not with an event waiting for 10 minutes; healthy once published.
    assert result.stdout.strip().splitlines()[-1] == "[0, 1, 0]"


def test_c25_the_sla_schedulers_health_check_reports_an_unannounced_alert(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The scheduler's probe, as the relay's: on a fresh SQLite database, healthy; not with an
    SLA alert due for three hours; healthy again once the real scheduler has announced it."""
    command = services(compose)["sla-scheduler"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    driver = f"""
import datetime
import django
django.setup()
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from helpdesk.accounts.models import Organization, Role, User
from helpdesk.outbox.models import OutboxEvent
from helpdesk.sla.policies import sla_policy_create
from helpdesk.sla.services import sla_ticket_opened
from helpdesk.tickets.models import Ticket

def probe():
    try:
        exec({command[3]!r}, {{}})
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0

call_command("migrate", interactive=False, verbosity=0)
results = [probe()]
org = Organization.objects.create(slug="probe", name="Probe")
sla_policy_create(
    organization=org, priority="urgent", first_response_minutes=30, resolution_minutes=120
)
customer = User.objects.create_user(
    "customer@probe.example", "correct horse battery staple", organization=org,
    role=Role.CUSTOMER, full_name="Customer",
)
opened = timezone.now() - datetime.timedelta(hours=3)
with transaction.atomic():
    ticket = Ticket.objects.create(
        organization=org, number=1, subject="Zip broken", description="It jams",
        priority="urgent", requester=customer, created_at=opened, updated_at=opened,
    )
    sla_ticket_opened(ticket=ticket, at=opened)
results.append(probe())
call_command("run_sla_scheduler", "--once", verbosity=0)
results.append(probe())
results.append(OutboxEvent.objects.filter(event_type="sla.breached").count())
print(results)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        ENVIRONMENT="local",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="sla-probe-test-" + "abcdefghij" * 5,
        REALTIME_TOKEN_SECRET="sla-probe-test-" + "x" * 32,
        SQLITE_PATH=str(tmp_path / "core.sqlite3"),
        REDIS_URL="redis://127.0.0.1:9/0",  # the ticket-list cache is best effort
    )
    result = subprocess.run(
        [sys.executable, "-c", driver],
        cwd=ROOT / "services/core-django",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Healthy when empty; not with breaches due hours ago; healthy once both are announced.
    assert result.stdout.strip().splitlines()[-1] == "[0, 1, 0, 2]"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own (the probes use XRANGE with exclusive ranges: 6.2+)."""
    from tools.stack import RedisServer, free_port, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("no redis-server binary")
    server = RedisServer(free_port(), tmp_path / "redis")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("name", "group"), [("webhook-worker", "webhooks"), ("ai-worker", "ai-triage")]
)
def test_c25_the_stream_consumers_health_checks_report_a_group_left_behind(
    compose: dict[str, Any], redis_url: str, name: str, group: str
) -> None:
    """Each consumer's probe against a real Redis: unhealthy without its group; healthy when the
    group has read and acknowledged everything; unhealthy with an entry published three minutes
    ago and not read, or read and not acknowledged; healthy again once it is acknowledged."""
    import redis

    command = services(compose)[name]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"]
    assert command[4] == group
    stream = "probe:events"
    env = {**os.environ, "REDIS_URL": redis_url, "EVENTS_STREAM": stream}

    def probe() -> int:
        return subprocess.run(
            [sys.executable, "-c", command[3], group],
            env=env,
            capture_output=True,
            check=False,
            timeout=30,
        ).returncode

    client = redis.Redis.from_url(redis_url)
    assert probe() != 0  # no stream, no group: the worker never started
    client.xgroup_create(stream, group, id="$", mkstream=True)
    client.xgroup_create(stream, "someone-else", id="0")
    assert probe() == 0  # nothing to do
    seconds, _ = cast(tuple[int, int], client.time())
    old_id = f"{(seconds - 180) * 1000}-0"
    client.xadd(stream, {"event": "{}"}, id=old_id)
    assert probe() != 0  # published three minutes ago, not read yet
    entries = cast(list[Any], client.xreadgroup(group, "worker-1", {stream: ">"}, count=10))
    assert [entry_id.decode() for entry_id, _ in entries[0][1]] == [old_id]
    assert probe() != 0  # read, but not acknowledged for three minutes (a worker stuck on it)
    client.xack(stream, group, old_id)
    assert probe() == 0  # another group's backlog is not this one's
    client.xadd(stream, {"event": "{}"})
    assert probe() == 0  # just published: a consumer has two minutes to take it


def test_c39_ai_and_realtime_call_core_with_the_service_credential(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """One credential for the four of them, and core answers ai and realtime at their CORE_URL
    with its production settings as they are: its own name allowed, and its HTTPS redirect on
    yet sparing the internal endpoints (ai and realtime call them over plain HTTP inside the
    network, and follow no redirect)."""
    web = services(compose)["web"]["environment"]
    token = web["HELPDESK_SERVICE_TOKEN"]
    assert len(token) >= 32
    for name in CORE_CALLERS:
        environment = services(compose)[name]["environment"]
        assert environment["HELPDESK_SERVICE_TOKEN"] == token, name
        assert environment["CORE_URL"] == "http://web:8000", name
    assert web["DJANGO_ALLOWED_HOSTS"].split(",")[0] == "helpdesk.example.com"  # health check
    # The redirect is core's production default, not turned off by an override.
    for name in CORE_IMAGE_USERS:
        assert "DJANGO_SECURE_SSL_REDIRECT" not in services(compose)[name]["environment"], name
    answers = core_internal_calls(web, "http://web:8000", token, tmp_path)
    # 400: the call reached the endpoint, authenticated (an empty body is not a valid request).
    assert {tuple(a) for a in answers.values()} == {(400, "validation_error", None)}, answers
    wrong = core_internal_calls(web, "http://web:8000", "x" * 48, tmp_path)
    assert {a[0] for a in wrong.values()} == {401}
    # Anything else over plain HTTP is still sent to HTTPS (seed C30).
    (public,) = core_answers(web, "http://web:8000", token, ["/api/v1/me"], tmp_path).values()
    assert public == [301, None, "https://web:8000/api/v1/me"]


def test_c30_to_c37_core_as_composed_passes_check_deploy_without_warnings(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """`manage.py check --deploy` with web's environment exactly as compose gives it (and so
    the core's workers', which share it): HTTPS redirect, HSTS, secure cookies and the rest."""
    for name in CORE_IMAGE_USERS:
        assert services(compose)[name]["environment"] == services(compose)["web"]["environment"]
    core_check_deploy(services(compose)["web"]["environment"], tmp_path)


def test_c38_core_counts_each_client_behind_the_gateway(
    raw: dict[str, Any], compose: dict[str, Any], tmp_path: Path
) -> None:
    """Core's own per-address limits are its defaults (the seed's: sign-in 5/minute), and they
    count each client apart: core believes the gateway's X-Real-IP because the gateway connects
    from the platform's network, a fixed subnet that RATE_LIMIT_TRUSTED_PROXIES names; nobody
    else's."""
    web = services(compose)["web"]["environment"]
    for user in CORE_IMAGE_USERS:
        environment = services(compose)[user]["environment"]
        assert not {"API_IP_RATE_LIMIT", "LOGIN_RATE_LIMIT"} & set(environment), user
    # The network: one subnet, which is exactly what core trusts (one variable sets both).
    (pool,) = compose["networks"]["default"]["ipam"]["config"]
    subnet = ipaddress.ip_network(pool["subnet"])
    assert subnet.is_private
    assert web["RATE_LIMIT_TRUSTED_PROXIES"] == str(subnet)
    written = raw["services"]["web"]["environment"]["RATE_LIMIT_TRUSTED_PROXIES"]
    assert raw["networks"]["default"]["ipam"]["config"][0]["subnet"] == written
    # Every service is on that network (none names another), so the gateway connects from it.
    for name, service in services(compose).items():
        assert "networks" not in service, name
        if name != "ai-models-init":  # network_mode: none
            assert "network_mode" not in service, name
    # The gateway sets X-Real-IP itself, over whatever a client sent.
    proxy = (ROOT / "gateway/nginx/proxy_common.conf.template").read_text()
    assert re.search(r"^proxy_set_header X-Real-IP \$remote_addr;$", proxy, re.M)

    gateway, other_container = (str(a) for a in list(subnet.hosts())[9:11])
    answer = core_rate_limiting(
        web,
        [
            (gateway, {"X-Real-IP": "203.0.113.7"}),
            (gateway, {"X-Real-IP": "203.0.113.8"}),
            # A container of the platform calling core with no forwarding header is itself.
            (other_container, {}),
            # Anyone else (were web reachable from outside) is counted under its own address.
            ("198.51.100.9", {"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "203.0.113.7"}),
        ],
        tmp_path,
    )
    assert answer["clients"] == ["203.0.113.7", "203.0.113.8", other_container, "198.51.100.9"]
    defaults = core_example_values()
    assert answer["API_IP_RATE_LIMIT"] == defaults["API_IP_RATE_LIMIT"] == "2400/minute"
    assert answer["LOGIN_RATE_LIMIT"] == defaults["LOGIN_RATE_LIMIT"] == "5/minute"
    assert answer["RATE_LIMITS_ENABLED"] is True


def test_c39_another_subnet_moves_the_network_and_the_trust_together() -> None:
    env = {**dummy_environment(), "NETWORK_SUBNET": "192.168.240.0/24"}
    data = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env))
    assert data["networks"]["default"]["ipam"]["config"] == [{"subnet": "192.168.240.0/24"}]
    for name in CORE_IMAGE_USERS:
        environment = data["services"][name]["environment"]
        assert environment["RATE_LIMIT_TRUSTED_PROXIES"] == "192.168.240.0/24", name


# --- Migrations: a step of their own (C52) --------------------------------------------------


def test_c52_migrate_is_a_one_off_step_that_web_and_the_workers_wait_for(
    compose: dict[str, Any],
) -> None:
    migrate = services(compose)["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in ("web", *CORE_WORKERS):
        depends = services(compose)[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services(compose)["web"]["depends_on"]["collectstatic"] == {
        "condition": "service_completed_successfully"
    }


def test_c52_nothing_but_migrate_migrates(
    compose: dict[str, Any], dockerfiles: dict[str, list[Stage]]
) -> None:
    assert "command" not in services(compose)["web"], "web runs the image's CMD (gunicorn)"
    assert "entrypoint" not in services(compose)["web"]
    assert "migrate" not in dockerfiles["core"][-1].last("CMD").exec_form()
    for name, service in services(compose).items():
        command = service.get("command", [])
        words = shlex.split(command) if isinstance(command, str) else command
        if name != "migrate":
            assert "migrate" not in words, name


# --- Volumes (C39) --------------------------------------------------------------------------


def test_c39_named_volumes_keep_the_data(compose: dict[str, Any]) -> None:
    assert set(compose["volumes"]) == {
        "postgres-data",
        "redis-data",
        "static",
        "media",
        "ai-models",
    }
    mounts = {name: service.get("volumes", []) for name, service in services(compose).items()}
    assert "postgres-data:/var/lib/postgresql/data" in mounts["postgres"]
    assert "redis-data:/data" in mounts["redis"]
    assert "static:/app/staticfiles" in mounts["web"]
    assert "static:/app/staticfiles" in mounts["collectstatic"]
    assert "media:/app/media" in mounts["web"]
    assert "--appendonly" in services(compose)["redis"]["command"]
    # The model files: one volume, at AI_MODEL_DIR, in the API and the worker that writes them.
    for name in ("ai", "ai-worker"):
        assert mounts[name] == [f"ai-models:{AI_MODEL_DIR}"], name
        assert services(compose)[name]["environment"]["AI_MODEL_DIR"] == AI_MODEL_DIR, name


# --- Configuration and secrets ------------------------------------------------------------


def test_c39_c51_no_secret_has_a_default(raw: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    seen = set()
    for match in references(text):
        name = match.group("name") or match.group("bare")
        if SECRET_NAME.search(name):
            seen.add(name)
            assert match.group("op") == ":?", f"{match.group(0)}: a secret must be required"
    assert seen >= SECRETS
    # Nor is one written into the file: each secret setting is a reference.
    for name, service in services(raw).items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert str(value).startswith("${"), f"{name}.{key}"
                assert ":?" in str(value), f"{name}.{key}"


def test_c51_a_missing_secret_stops_compose() -> None:
    text = COMPOSE_FILE.read_text()
    for secret in SECRETS:
        env = dummy_environment()
        env[secret] = ""
        with pytest.raises(MissingVariable, match=secret):
            interpolate(text, env)


def test_c39_the_services_run_in_production_against_the_compose_databases(
    compose: dict[str, Any],
) -> None:
    python_services = CORE_IMAGE_USERS | {"ai", "ai-worker", "realtime"}
    for name in python_services:
        assert services(compose)[name]["environment"]["ENVIRONMENT"] == "production", name
    for name in CORE_IMAGE_USERS:
        url = urlsplit(services(compose)[name]["environment"]["DATABASE_URL"])
        assert (url.scheme, url.hostname, url.port, url.path) == (
            "postgres",
            "postgres",
            5432,
            "/helpdesk",
        )
        assert url.password == "pg-pass-word"
        assert parse_qs(url.query)["sslmode"] == ["require"]  # seed C01
    for name in python_services:
        url = urlsplit(services(compose)[name]["environment"]["REDIS_URL"])
        assert (url.hostname, url.port, url.password) == ("redis", 6379, "redis-pass-word")
    redis = services(compose)["redis"]["command"]
    assert redis[redis.index("--requirepass") + 1] == "redis-pass-word"
    postgres = services(compose)["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == "pg-pass-word"
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("helpdesk", "helpdesk")
    realtime = services(compose)["realtime"]["environment"]
    assert (
        realtime["REALTIME_TOKEN_SECRET"]
        == services(compose)["web"]["environment"]["REALTIME_TOKEN_SECRET"]
    )


def test_c51_env_example_lists_every_variable_and_no_value_of_a_secret() -> None:
    used = {m.group("name") or m.group("bare") for m in references(COMPOSE_FILE.read_text())}
    listed = example_values()
    assert used <= set(listed), f"missing from {ENV_EXAMPLE.name}: {sorted(used - set(listed))}"
    assert set(listed) - used == {"COMPOSE_FILE"}, "listed but not used"
    for name in SECRETS | set(TAG_VARIABLES.values()):
        assert listed[name] == "", f"{name}: no value in the example"


# --- The gateway ----------------------------------------------------------------------------


def test_c39_only_the_gateway_is_published_on_80_and_443(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if name != "nginx":
            assert "ports" not in service, f"{name} must be reached through the gateway only"
    assert services(compose)["nginx"]["ports"] == ["80:8080", "443:8443"]


def test_c39_the_gateway_is_given_every_placeholder_and_the_services_addresses(
    compose: dict[str, Any], dockerfiles: dict[str, list[Stage]]
) -> None:
    environment = services(compose)["nginx"]["environment"]
    provided = set(dockerfiles["gateway"][-1].env()) | set(environment)
    missing = set(entrypoint_template_vars()) - provided
    assert not missing, f"neither the image nor the compose file sets {sorted(missing)}"
    for variable, (service, image) in {
        "CORE_SERVERS": ("web", "core"),
        "AI_SERVERS": ("ai", "ai"),
        "REALTIME_SERVERS": ("realtime", "realtime"),
    }.items():
        port = PYTHON_IMAGES[image][2]
        assert environment[variable] == f"server {service}:{port};"
    for name in ("web", "ai", "realtime"):
        assert services(compose)["nginx"]["depends_on"][name] == {
            "condition": "service_healthy",
            "restart": True,
        }
    assert services(compose)["nginx"]["volumes"] == ["/etc/helpdesk/tls:/etc/nginx/ssl:ro"]
    image_env = dockerfiles["gateway"][-1].env()
    assert image_env["TLS_CERT"] == "/etc/nginx/ssl/cert.pem"  # seed C10's paths
    assert image_env["TLS_KEY"] == "/etc/nginx/ssl/key.pem"
