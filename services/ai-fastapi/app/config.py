"""Settings of the AI service, entirely from environment variables (see ``.env.example``).

Read once, by ``create_app``; a bad value stops the process at start-up with a message that names
the variable, instead of failing later on a request. There is no ``.env`` loading here: the
process manager (``honcho``, ``uv run --env-file``, the container) provides the environment,
as for the other services.
"""

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import AnyHttpUrl, Field, RedisDsn, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.ml.language import DEFAULT_LANGUAGES
from helpdesk_shared import EVENTS_STREAM

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

    # The credential core and this service share (helpdesk_shared.access); empty: none accepted
    # by the API, and the triage consumer cannot post verdicts.
    HELPDESK_SERVICE_TOKEN: SecretStr = SecretStr("")
    # Where core answers (the triage consumer posts verdicts to CORE_URL + TRIAGE_PATH).
    CORE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")

    # Model artifacts and training sets (the local artifact store). Several replicas must share it.
    AI_MODEL_DIR: Path = Path(tempfile.gettempdir()) / "helpdesk-ai" / "models"
    # Prefix of every Redis key this service owns (models, activations, the training queue).
    AI_KEY_PREFIX: str = Field(default="helpdesk:ai:", min_length=1)
    # Below this calibrated confidence a prediction says "unsure": true.
    AI_CONFIDENCE_THRESHOLD: float = Field(default=0.5, ge=0.0, le=1.0)
    AI_LANGUAGES: Annotated[list[str], NoDecode] = DEFAULT_LANGUAGES.split(",")
    # Per API token (limits' notation: "100/second", "6000/minute;200/second").
    AI_RATE_LIMIT: str = "100/second"
    AI_TRAIN_RATE_LIMIT: str = "10/minute"
    AI_BATCH_MAX_ITEMS: int = Field(default=100, ge=1, le=10_000)
    AI_TRAINING_MAX_EXAMPLES: int = Field(default=100_000, ge=10)
    AI_TRAINING_MAX_UPLOAD_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024)
    # How long a replica keeps an organization's active model id before asking Redis again.
    AI_ACTIVATION_CACHE_SECONDS: float = Field(default=2.0, ge=0.0, le=60.0)

    # The worker (python -m app.worker): triage consumer and training jobs.
    EVENTS_STREAM: str = Field(default=EVENTS_STREAM, min_length=1)
    AI_TRIAGE_GROUP: str = Field(default="ai-triage", min_length=1)
    AI_TRIAGE_CLAIM_IDLE_SECONDS: float = Field(default=60.0, gt=0)
    AI_TRAINING_CLAIM_IDLE_SECONDS: float = Field(default=300.0, gt=0)
    AI_TRAINING_PROCESSES: int = Field(default=1, ge=1, le=16)

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("LOG_FILE", "SENTRY_DSN", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("AI_RATE_LIMIT", "AI_TRAIN_RATE_LIMIT")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_many(value)  # raises ValueError naming what it cannot read
        return value

    @field_validator("AI_CORS_ORIGINS", "AI_LANGUAGES", mode="before")
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
