"""What the deployment tests share: where things are, and a reader of Dockerfiles.

No Docker engine is needed (nor assumed): the images are checked as text, and the steps they run
(``uv sync``, ``collectstatic``, the gateway's entrypoint, the health checks) are run here, on
this machine, the way the Dockerfiles run them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpdesk_shared.access import ROOM_ACCESS_PATH
from helpdesk_shared.triage import TRIAGE_PATH

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# name -> (Dockerfile, the uv workspace member it installs, the port it serves)
PYTHON_IMAGES: dict[str, tuple[Path, str, int]] = {
    "core": (ROOT / "services/core-django/Dockerfile", "helpdesk-core", 8000),
    "ai": (ROOT / "services/ai-fastapi/Dockerfile", "helpdesk-ai", 8001),
    "realtime": (ROOT / "services/realtime/Dockerfile", "helpdesk-realtime", 3000),
}
GATEWAY_DOCKERFILE = ROOT / "gateway/nginx/Dockerfile"
GATEWAY_ENTRYPOINT = ROOT / "gateway/nginx/docker-entrypoint.sh"
ALL_DOCKERFILES = {
    **{name: path for name, (path, _, _) in PYTHON_IMAGES.items()},
    "gateway": GATEWAY_DOCKERFILE,
}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: RUN, COPY, ...
    args: str  # continuation lines joined, comments inside them dropped
    line: int  # where it starts (1-based)

    def exec_form(self) -> list[str]:
        """The JSON array of CMD, ENTRYPOINT or HEALTHCHECK ... CMD."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index(" CMD ") + len(" CMD ") :]
        value = json.loads(text)
        assert isinstance(value, list), f"line {self.line}: not the exec (JSON) form"
        return [str(item) for item in value]

    def flags(self) -> dict[str, str]:
        """Leading --name=value flags (COPY --from=..., HEALTHCHECK --interval=...)."""
        found = {}
        for token in self.args.split():
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            found[name] = value
        return found


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage, in order (the ``KEY=value`` form only)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: use ENV KEY=value"
                values[key] = value
        return values


def parse_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions."""
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword == "FROM":
            # FROM [--platform=...] image [AS name]
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{path}:{number}: an instruction before FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, f"{path}: ends inside a continued line"
    return stages


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, list[Stage]]:
    return {name: parse_dockerfile(path) for name, path in ALL_DOCKERFILES.items()}


def entrypoint_template_vars() -> list[str]:
    """TEMPLATE_VARS of the gateway's entrypoint: the placeholders it fills."""
    text = GATEWAY_ENTRYPOINT.read_text()
    start = text.index('TEMPLATE_VARS="') + len('TEMPLATE_VARS="')
    return text[start : text.index('"', start)].split()


def tool(name: str) -> str:
    """A tool of the dev environment (.venv/bin) or, failing that, of the PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make install`")
    return found


# --- core with a deployment's environment -----------------------------------------------------


def run_core(
    code: str, args: list[str], core_env: dict[str, Any], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``python -c code *args`` from core's folder with a deployment's environment for core
    (its production settings), as the image runs it. Sentry stays off; nothing else is
    changed, so a caller that must not reach the database or Redis swaps them itself."""
    env = {k: str(v) for k, v in core_env.items() if v is not None}
    env.update(
        PATH=str(VENV_BIN) + ":/usr/bin:/bin",
        HOME=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
        SENTRY_DSN="",
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT / "services/core-django",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _last_json_line(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def offline(core_env: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``core_env`` with the database and Redis swapped for ones that do not exist."""
    return {
        **core_env,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'absent.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }


_CALLS = """
import json, sys
from urllib.parse import urlsplit
import django
django.setup()
from django.test import Client

core_url, token, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
base = urlsplit(core_url)
assert base.scheme == "http", core_url
answers = {}
client = Client(raise_request_exception=False)
for path in paths:
    response = client.post(
        base.path.rstrip("/") + path, data="{}", content_type="application/json",
        HTTP_HOST=base.netloc, HTTP_AUTHORIZATION="Bearer " + token,
    )
    body = response.content.decode()
    code = json.loads(body).get("code") if body.startswith("{") else None
    answers[path] = [response.status_code, code, response.get("Location")]
print(json.dumps(answers))
"""


def core_answers(
    core_env: dict[str, Any], core_url: str, token: str, paths: list[str], tmp_path: Path
) -> dict[str, list[object]]:
    """What core, with a deployment's environment, answers a POST of ``{}`` to each of
    ``paths`` at ``core_url``, over plain HTTP with ``core_url``'s host and ``token`` as the
    bearer: ``{path: [status, error code, Location]}``. The database and Redis are swapped for
    ones that do not exist: the answers must not need either."""
    result = run_core(
        _CALLS, [core_url, token, json.dumps(paths)], offline(core_env, tmp_path), tmp_path
    )
    answers = _last_json_line(result)
    assert isinstance(answers, dict)
    return answers


def core_internal_calls(
    core_env: dict[str, Any], core_url: str, token: str, tmp_path: Path
) -> dict[str, list[object]]:
    """What core answers ai and realtime at ``core_url`` (see ``core_answers``) on each
    internal endpoint, the way their clients call it."""
    return core_answers(core_env, core_url, token, [ROOM_ACCESS_PATH, TRIAGE_PATH], tmp_path)


def core_check_deploy(core_env: dict[str, Any], tmp_path: Path) -> str:
    """``manage.py check --deploy --fail-level WARNING`` with a deployment's environment
    (seed C30-C37): fails the test on any warning; returns the report. The check connects to
    nothing."""
    result = run_core(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', *sys.argv[1:]])",
        ["check", "--deploy", "--fail-level", "WARNING"],
        core_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout, result.stdout
    return result.stdout


_RATE_LIMITS = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import RequestFactory
from helpdesk.common.ratelimit import client_address

factory = RequestFactory()
addresses = []
for peer, headers in json.loads(sys.argv[1]):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    addresses.append(client_address(factory.get("/api/v1/me", REMOTE_ADDR=peer, **meta)))
print(json.dumps({
    "clients": addresses,
    "API_IP_RATE_LIMIT": settings.API_IP_RATE_LIMIT,
    "LOGIN_RATE_LIMIT": settings.LOGIN_RATE_LIMIT,
    "RATE_LIMITS_ENABLED": settings.RATE_LIMITS_ENABLED,
}))
"""


def core_rate_limiting(
    core_env: dict[str, Any], requests: list[tuple[str, dict[str, str]]], tmp_path: Path
) -> dict[str, Any]:
    """How core, with a deployment's environment, counts requests for its rate limits:
    ``clients``, the address each of ``requests`` (peer address, headers) is counted under,
    and the limits in force."""
    result = run_core(_RATE_LIMITS, [json.dumps(requests)], offline(core_env, tmp_path), tmp_path)
    answer = _last_json_line(result)
    assert isinstance(answer, dict)
    return answer


def core_example_values() -> dict[str, str]:
    """core's documented defaults (services/core-django/.env.example)."""
    values = {}
    for line in (ROOT / "services/core-django/.env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip()
    return values
