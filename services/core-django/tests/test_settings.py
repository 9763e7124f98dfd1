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


def test_production_settings_pass_check_deploy_without_warnings() -> None:
    """Seed C30-C37: HTTPS redirect, HSTS, secure cookies, nosniff, DENY, referrer policy."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_database_uses_the_urls_sslmode_and_persistent_checked_connections() -> None:
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
def test_production_refuses_to_start_without_a_required_setting(missing: str, message: str) -> None:
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
