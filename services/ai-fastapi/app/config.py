"""Settings of the AI service, entirely from environment variables (see ``.env.example``).

Read once, by ``create_app``; a bad value stops the process at start-up with a message that names
the variable, instead of failing later on a request. There is no ``.env`` loading here: the
process manager (``honcho``, ``uv run --env-file``, the container) provides the environment,
as for the other services.
"""

import re
from typing import Annotated, Any, Literal

from pydantic import Field, RedisDsn, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# An origin is scheme://host[:port]: no path, no trailing slash (a browser never sends one).
_ORIGIN = re.compile(r"https?://[^\s/]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, frozen=True)

    ENVIRONMENT: Literal["local", "production"] = "production"
    LOG_LEVEL: LogLevel = "INFO"
    LOG_FILE: str | None = None
    SENTRY_DSN: str | None = Field(default=None, repr=False)

    # repr=False: a URL may carry a password, and settings end up in tracebacks and debuggers.
    REDIS_URL: RedisDsn = Field(default=RedisDsn("redis://127.0.0.1:6379/0"), repr=False)
    # One pool per process: the most connections this process opens to Redis.
    REDIS_POOL_SIZE: int = Field(default=20, ge=1)
    # Seconds allowed to connect, to run one command, and to wait for a free pooled connection.
    REDIS_SOCKET_TIMEOUT: float = Field(default=2.0, gt=0)

    # Origins allowed to call the API from a browser; empty means no CORS headers at all.
    AI_CORS_ORIGINS: Annotated[list[str], NoDecode] = []

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("LOG_FILE", "SENTRY_DSN", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("AI_CORS_ORIGINS", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("AI_CORS_ORIGINS")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        origins = [origin.rstrip("/") for origin in origins]
        bad = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
        if bad:
            listed = ", ".join(map(repr, bad))
            raise ValueError(f"each origin must look like https://host[:port], not {listed}")
        return origins
