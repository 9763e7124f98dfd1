"""Production settings: safe by default, and refusing to start without what they need."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_SECRET_KEY": "Zr8-qP2xV9mW4tL7nB1cK6hJ3gF0dS5aQ8wE2rT9yU4iO7pA1sD6fG3hJ0kL5zX",
    "REALTIME_TOKEN_SECRET": "prod-like-realtime-secret-0123456789abcdef",
    "DATABASE_URL": "postgres://helpdesk@db.internal:5432/helpdesk?sslmode=require",
    "DJANGO_ALLOWED_HOSTS": "helpdesk.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=CORE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_c30_to_c37_production_settings_pass_check_deploy_without_warnings() -> None:
    """Seed C30-C37: HTTPS redirect, HSTS, secure cookies, nosniff, DENY, referrer policy."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_c01_c06_c07_c36_c37_database_ssl_persistent_checked_connections_strict_cookies() -> None:
    """Seed C01, C06, C07: SSL from the URL; CONN_MAX_AGE and CONN_HEALTH_CHECKS top-level."""
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['OPTIONS']['sslmode'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'],"
        " 'CONN_MAX_AGE' in d['OPTIONS'], s.DEBUG, s.SESSION_COOKIE_SAMESITE,"
        " s.CSRF_COOKIE_HTTPONLY)"
    )
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.stdout.split() == ["require", "600", "True", "False", "False", "Strict", "True"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY is required"),
        ("DATABASE_URL", "DATABASE_URL is required"),
        ("REALTIME_TOKEN_SECRET", "REALTIME_TOKEN_SECRET is required"),
    ],
)
def test_c51_production_refuses_to_start_without_a_required_setting(
    missing: str, message: str
) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_weak_secret_key_is_refused() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "at least 50 random characters" in result.stderr


def test_seed_demo_refuses_to_run_in_production(tmp_path: Path) -> None:
    result = _manage("seed_demo", "--output", str(tmp_path / "d.json"), env=PRODUCTION_ENV)
    assert result.returncode != 0
    assert "ENVIRONMENT=local" in result.stderr


def test_c05_database_pool_of_5_to_20_when_asked_for() -> None:
    """Django's native psycopg pool, on a real PostgreSQL server, when DATABASE_POOL is set."""
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": server.rsplit("/", 1)[0] + "/postgres",
        "DATABASE_POOL": "5:20",
    }
    code = (
        "from django.db import connection as c; c.ensure_connection(); p = c.pool;"
        "print(p.min_size, p.max_size, c.settings_dict['CONN_MAX_AGE']); p.close()"
    )
    result = _manage("shell", "--no-imports", "-c", code, env=env)
    assert result.stdout.split() == ["5", "20", "0"], result.stderr
    deploy = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert deploy.returncode == 0, deploy.stderr


def test_c22_logs_at_info_by_default() -> None:
    code = "import logging; print(logging.getLevelName(logging.getLogger().level))"
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.stdout.strip() == "INFO"


def test_c51_every_setting_read_from_the_environment_is_documented() -> None:
    import re

    read = set()
    for path in [CORE / "config" / "settings.py", CORE / "config" / "gunicorn.conf.py"]:
        read |= set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', path.read_text()))
        read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', path.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (CORE / ".env.example").read_text(), re.M))
    assert read - documented == set()


def test_c18_static_files_use_hashed_names_through_storages() -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.STORAGES['staticfiles']['BACKEND'], hasattr(s, 'STATICFILES_STORAGE'),"
        " s.STATIC_ROOT)"
    )
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={**PRODUCTION_ENV, "DJANGO_STATIC_ROOT": "/srv/static"},
    )
    backend, legacy, root = result.stdout.split()
    assert backend == "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
    assert legacy == "False"
    assert root == "/srv/static"


def test_a_rotated_secret_key_keeps_sessions_signed_with_the_previous_one() -> None:
    old = PRODUCTION_ENV["DJANGO_SECRET_KEY"]
    new = "N3w-" + old[4:][::-1]
    signed_before = f"signing.dumps('hello', key={old!r})"
    code = f"from django.core import signing; print(signing.loads({signed_before}))"
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": new, "DJANGO_SECRET_KEY_FALLBACKS": old}
    assert _manage("shell", "--no-imports", "-c", code, env=env).stdout.strip() == "hello"
