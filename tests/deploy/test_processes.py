"""Every process of the platform is deployed, and every setting a service reads is decided.

tools/stack.py's process list (what `make run` and the integration tests start) is the
platform's list of long-running processes: each must have a service in docker-compose.prod.yml
and one in deploy/aws/cloudformation.yaml, running the same command from its service's image.
Each environment variable a service reads (its settings code and its `.env.example`) must be set
by each deployment for that service (or by the image), or be named in deploy/README.md's
"Settings" section, which says why its default is the production value. So a process or a setting
added to a service fails here until the deployment files follow it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import PYTHON_IMAGES, ROOT, Stage
from tests.deploy.test_cloudformation import README, TEMPLATE, _CfnLoader, container
from tests.deploy.test_compose import COMPOSE_FILE, dummy_environment, interpolate
from tools.stack import AI_DIR, CORE_DIR, REALTIME_DIR, Config, process_specs

# tools/stack.py's name -> (compose service, ECS service).
PROCESSES = {
    "core": ("web", "CoreService"),
    "relay": ("relay", "RelayService"),
    "sla": ("sla-scheduler", "SlaSchedulerService"),
    "webhooks": ("webhook-worker", "WebhookWorkerService"),
    "ai": ("ai", "AiService"),
    "ai-worker": ("ai-worker", "AiWorkerService"),
    "realtime": ("realtime", "RealtimeService"),
}
# Started by tools/stack.py but deployed otherwise: the gateway is the compose file's nginx and,
# on AWS, the load balancer and WAF; realtime-2... are more replicas of realtime (desired count).
NOT_A_SERVICE = re.compile(r"^(gateway|realtime-\d+)$")
# A service's folder -> (image name in tests/deploy/conftest.py, its image parameters on AWS).
IMAGE_OF = {
    CORE_DIR: ("core", "CoreImageRepository", "CoreImageTag"),
    AI_DIR: ("ai", "AiImageRepository", "AiImageTag"),
    REALTIME_DIR: ("realtime", "RealtimeImageRepository", "RealtimeImageTag"),
}


@pytest.fixture(scope="module")
def specs() -> dict[str, Any]:
    cfg = Config(run_dir=ROOT / ".run", redis_url="", secret_key="", realtime_secret="")
    return {
        spec.name: spec
        for spec in process_specs(cfg, with_gateway=False)
        if not NOT_A_SERVICE.match(spec.name)
    }


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), dummy_environment()))
    assert isinstance(data, dict)
    services = data["services"]
    assert isinstance(services, dict)
    return services


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    loaded = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader)
    assert isinstance(loaded, dict)
    found = loaded["Resources"]
    assert isinstance(found, dict)
    return found


def task_definition_of(resources: dict[str, dict[str, Any]], service: str) -> str:
    name = resources[service]["Properties"]["TaskDefinition"]["Ref"]
    assert isinstance(name, str)
    return name


# --- Every process is deployed ----------------------------------------------------------------


def test_c39_c43_every_long_running_process_has_a_compose_service_and_an_ecs_service(
    specs: dict[str, Any], compose: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    assert set(specs) == set(PROCESSES), (
        "a process was added to or removed from tools/stack.py: deploy it (compose and ECS) "
        "and add it here"
    )
    for name, (compose_name, ecs_name) in PROCESSES.items():
        assert compose_name in compose, name
        assert resources[ecs_name]["Type"] == "AWS::ECS::Service", name
        service = compose[compose_name]
        assert service["restart"] == "unless-stopped", compose_name
        assert service["healthcheck"]["test"], compose_name
        assert {"cpus", "memory"} <= set(service["deploy"]["resources"]["limits"]), compose_name


def test_c39_c43_each_process_runs_the_same_command_from_its_services_image(
    specs: dict[str, Any],
    compose: dict[str, Any],
    resources: dict[str, dict[str, Any]],
    dockerfiles: dict[str, list[Stage]],
) -> None:
    for name, (compose_name, ecs_name) in PROCESSES.items():
        spec = specs[name]
        image, repository, tag = IMAGE_OF[spec.cwd]
        service = compose[compose_name]
        definition = container(resources, task_definition_of(resources, ecs_name))
        # The image: the service's Dockerfile in compose, its repository and tag on AWS.
        dockerfile = PYTHON_IMAGES[image][0].relative_to(ROOT).as_posix()
        assert service["build"]["dockerfile"] == dockerfile, name
        text, _ = definition["Image"]["Fn::Sub"]
        assert text == f"${{Registry}}/${{{repository}}}:${{{tag}}}", name
        program = Path(spec.argv[0]).name
        if program == "python":
            # A worker: the same command, run from the image's WORKDIR (the service's folder).
            command = ["python", *spec.argv[1:]]
            assert service["command"] == command, name
            assert definition["Command"] == command, name
            assert dockerfiles[image][-1].last("WORKDIR").args == "/app", name
        else:
            # A server (gunicorn, uvicorn): the image's CMD, the same program and application.
            assert "command" not in service, name
            assert "Command" not in definition, name
            cmd = dockerfiles[image][-1].last("CMD").exec_form()
            assert cmd[0] == program, name
            application = next(a for a in spec.argv[1:] if re.fullmatch(r"[\w.]+(:\w+)?", a))
            assert application in cmd, name


# --- Every setting is decided -------------------------------------------------------------------


def _example_names(path: Path) -> set[str]:
    """Every variable a .env.example describes, commented-out ones (optional) included."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.M))


def _settings_fields(path: Path, *, upper: bool) -> set[str]:
    """The fields of a pydantic-settings ``Settings`` class: the variables it reads."""
    tree = ast.parse(path.read_text())
    (settings,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings"]
    return {
        node.target.id.upper() if upper else node.target.id
        for node in settings.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def _core_reads() -> set[str]:
    found = set()
    for path in [*CORE_DIR.glob("config/*.py"), *CORE_DIR.glob("helpdesk/**/*.py")]:
        if path.name == "test_settings.py" or {"tests", "migrations"} & set(path.parts):
            continue
        text = path.read_text()
        found |= set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z][A-Z0-9_]*)"', text))
        found |= set(
            re.findall(r'os\.(?:environ\.get\(|environ\[|getenv\()\s*"([A-Z][A-Z0-9_]*)"', text)
        )
    return found


def read_by(image: str) -> set[str]:
    """What a service reads from the environment: its code's settings and its .env.example."""
    if image == "core":
        code = _core_reads()
        assert {"DATABASE_URL", "HELPDESK_SERVICE_TOKEN", "WEBHOOKS_ALLOW_HTTP"} <= code
        return code | _example_names(CORE_DIR / ".env.example")
    if image == "ai":
        code = _settings_fields(AI_DIR / "app/config.py", upper=False)
        assert {"REDIS_URL", "CORE_URL", "AI_MODEL_DIR"} <= code
        return code | _example_names(AI_DIR / ".env.example")
    code = _settings_fields(REALTIME_DIR / "app/config.py", upper=True)
    assert {"REDIS_URL", "REALTIME_TOKEN_SECRET"} <= code
    return code | _example_names(REALTIME_DIR / ".env.example")


def documented_defaults() -> set[str]:
    """The variables deploy/README.md's "Settings" section leaves at their defaults."""
    text = README.read_text()
    start = text.index("\n## Settings\n")
    end = text.index("\n## ", start + 1)
    return set(re.findall(r"`([A-Z][A-Z0-9_]*)`", text[start:end]))


def _ecs_names(definition: dict[str, Any]) -> set[str]:
    names = {s["Name"] for s in definition.get("Secrets", [])}
    for entry in definition.get("Environment", []):
        if "Name" in entry:
            names.add(entry["Name"])
        else:  # !If [condition, {Name, Value}, AWS::NoValue]: set when the condition holds
            names.add(entry["Fn::If"][1]["Name"])
    return names


@pytest.mark.parametrize("image", sorted(PYTHON_IMAGES))
def test_c51_every_setting_a_service_reads_is_set_or_documented(
    image: str,
    specs: dict[str, Any],
    compose: dict[str, Any],
    resources: dict[str, dict[str, Any]],
    dockerfiles: dict[str, list[Stage]],
) -> None:
    reads = read_by(image)
    from_image = set(dockerfiles[image][-1].env())
    documented = documented_defaults()
    names = [n for n, spec in specs.items() if IMAGE_OF[spec.cwd][0] == image]
    in_compose = set().union(*(compose[PROCESSES[n][0]].get("environment", {}) for n in names))
    in_ecs = set().union(
        *(
            _ecs_names(container(resources, task_definition_of(resources, PROCESSES[n][1])))
            for n in names
        )
    )
    for where, given in (("docker-compose.prod.yml", in_compose), ("the template", in_ecs)):
        missing = reads - given - from_image - documented
        assert not missing, (
            f"{image} reads {sorted(missing)}: set them in {where} or say in deploy/README.md's "
            "Settings section why the default is right"
        )
    # And the section names nothing that no service reads (a stale entry).
    everything = set().union(*(read_by(name) for name in PYTHON_IMAGES))
    assert documented <= everything, sorted(documented - everything)


def test_the_runbook_names_every_process_and_how_to_rotate_the_service_credential(
    resources: dict[str, dict[str, Any]],
) -> None:
    text = README.read_text()
    for compose_name, ecs_name in PROCESSES.values():
        assert f"`{compose_name}`" in text, compose_name
        ecs_service = resources[ecs_name]["Properties"]["ServiceName"]
        assert f"`{ecs_service}`" in text, ecs_service
    start = text.index("**`HELPDESK_SERVICE_TOKEN`**")
    rotation = text[start : text.index("\n- **", start + 1)]
    for step in ("ServiceTokenSecretArn", "put-secret-value", "ai-worker", "--desired-count"):
        assert step in rotation, step
