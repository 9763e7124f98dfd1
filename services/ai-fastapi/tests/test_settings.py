"""Settings from the environment: defaults, parsing, and clear errors on bad values."""

import pytest
from pydantic import ValidationError

from app.config import Settings

_OURS = (
    "ENVIRONMENT",
    "LOG_LEVEL",
    "LOG_FILE",
    "SENTRY_DSN",
    "REDIS_URL",
    "REDIS_POOL_SIZE",
    "REDIS_SOCKET_TIMEOUT",
    "AI_CORS_ORIGINS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OURS:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = Settings()

    assert settings.ENVIRONMENT == "production"
    assert settings.LOG_LEVEL == "INFO"
    assert settings.LOG_FILE is None
    assert settings.SENTRY_DSN is None
    assert str(settings.REDIS_URL) == "redis://127.0.0.1:6379/0"
    assert settings.REDIS_POOL_SIZE == 20
    assert settings.AI_CORS_ORIGINS == []


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FILE", "")
    monkeypatch.setenv("REDIS_POOL_SIZE", "5")
    monkeypatch.setenv("AI_CORS_ORIGINS", "http://localhost:5173, https://app.example.com/ ,")

    settings = Settings()

    assert settings.ENVIRONMENT == "local"
    assert settings.LOG_LEVEL == "DEBUG"
    assert settings.LOG_FILE is None
    assert settings.REDIS_POOL_SIZE == 5
    assert settings.AI_CORS_ORIGINS == ["http://localhost:5173", "https://app.example.com"]


def test_environment_must_be_local_or_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")

    with pytest.raises(ValidationError) as failure:
        Settings()

    message = str(failure.value)
    assert "ENVIRONMENT" in message
    assert "'local' or 'production'" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_POOL_SIZE", "0"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("LOG_LEVEL", "LOUD"),
        ("AI_CORS_ORIGINS", "localhost:5173"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name):
        Settings()
