"""Start-up configuration: a missing or short secret stops the process with a clear message."""

import pytest

from app.config import ConfigurationError, load_settings

SECRET = "s" * 32


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_secret_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("REALTIME_TOKEN_SECRET", raising=False)
    else:  # as a copied .env.example leaves it
        monkeypatch.setenv("REALTIME_TOKEN_SECRET", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "REALTIME_TOKEN_SECRET" in str(caught.value)
    assert "required" in str(caught.value)


def test_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_TOKEN_SECRET", "short")
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        load_settings()


def test_defaults_are_the_production_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "REDIS_URL", "REALTIME_CORS_ORIGINS", "LOG_FILE", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REALTIME_TOKEN_SECRET", SECRET)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.redis_pool_size == 20
    assert settings.events_stream == "helpdesk:events"
    assert settings.cors_allowed_origins is None  # same origin only, never "no check"
    assert settings.realtime_token_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("REALTIME_CORS_ORIGINS", "https://a.example, https://b.example/,")
    monkeypatch.setenv("LOG_FILE", "")
    settings = load_settings()
    assert settings.cors_allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.log_file is None


def test_any_origin_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("REALTIME_CORS_ORIGINS", "*")
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="REALTIME_CORS_ORIGINS"):
        load_settings()
