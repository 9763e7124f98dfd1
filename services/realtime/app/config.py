"""Settings, read once from the environment at start-up.

Only the environment is read (no ``.env`` file): in containers the orchestrator sets it, and
locally the process manager (honcho) loads ``.env`` into it. A missing or weak token secret
stops the process before it accepts a connection, with a message that names the variable.
"""

import os
import socket
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from helpdesk_shared import EVENTS_STREAM

SECRET_MIN_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    # One pool per process: the stream reader holds one connection, readiness pings borrow one.
    redis_pool_size: int = Field(default=20, ge=2, le=1000)
    # Shared with core, which signs the connection tokens (HS256).
    realtime_token_secret: SecretStr = Field(min_length=SECRET_MIN_LENGTH)
    environment: Literal["local", "production"] = "production"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_file: str | None = None
    sentry_dsn: SecretStr | None = None
    events_stream: str = Field(default=EVENTS_STREAM, min_length=1)
    # Browser origins allowed to open a connection. Empty: same origin only (never "any").
    realtime_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Core, asked whether a user may join a ticket's or a queue's room (helpdesk_shared.access).
    core_url: str = "http://127.0.0.1:8000"
    helpdesk_service_token: SecretStr | None = None
    room_access_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    room_access_timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    # Replay: how old a client's last_event_id may be (besides what the stream still holds),
    # and how many recent entries each process keeps in memory to replay without Redis.
    realtime_replay_max_age_seconds: int = Field(default=6 * 3600, ge=1)
    realtime_replay_buffer: int = Field(default=10_000, ge=100, le=1_000_000)

    # Limits per connection and per user.
    realtime_max_message_bytes: int = Field(default=16 * 1024, ge=256, le=1024 * 1024)
    realtime_message_rate: float = Field(default=10.0, gt=0)  # messages per second, sustained
    realtime_message_burst: int = Field(default=30, ge=1)
    realtime_max_connections_per_user: int = Field(default=20, ge=1)
    # Packets waiting for one slow client before it is cut off (it reconnects and replays).
    realtime_max_queued_packets: int = Field(default=2_000, ge=10)
    # The same for a connection that fan-out writes to directly: bytes its socket has not
    # taken yet (see app.direct).
    realtime_max_buffered_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    # Fan-out frames written straight to idle WebSocket connections (app.direct); off: every
    # delivery goes through Engine.IO's queue and writer task.
    realtime_direct_writes: bool = True
    # When a connection is told its token expires soon ("token.expiring").
    realtime_token_warning_seconds: int = Field(default=60, ge=1)

    # Presence: heartbeat period, and how long an entry lives without one.
    realtime_presence_heartbeat_seconds: float = Field(default=5.0, gt=0, le=60)
    realtime_presence_ttl_seconds: int = Field(default=30, ge=2)
    realtime_typing_ttl_seconds: float = Field(default=8.0, gt=0)

    # Long-polling needs sticky sessions in front of several nodes; websocket-only does not.
    realtime_allow_polling: bool = False
    # Prefix of the Redis keys realtime owns (connection registry, ticket presence, channel).
    realtime_key_prefix: str = Field(default="helpdesk:realtime:", min_length=1)
    # This process's name in logs, metrics and the connection registry (default: host-pid).
    realtime_node_id: str = ""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_file", "sentry_dsn", "helpdesk_service_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """``LOG_FILE=`` in an env file means "not set", not "a file named ''"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("realtime_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _no_wildcard_in_production(self) -> "Settings":
        """Any origin would let any web page open a connection with a token it got hold of."""
        if "*" in self.realtime_cors_origins and self.environment == "production":
            raise ValueError("REALTIME_CORS_ORIGINS may not contain '*' in production")
        return self

    @field_validator("core_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def node_id(self) -> str:
        return self.realtime_node_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def transports(self) -> list[str]:
        return ["polling", "websocket"] if self.realtime_allow_polling else ["websocket"]

    @property
    def cors_allowed_origins(self) -> list[str] | str | None:
        """The value python-socketio expects.

        ``None`` is its same-origin check; an empty list would turn origin checks off entirely,
        so an empty allow-list must never be passed through as ``[]``.
        """
        if not self.realtime_cors_origins:
            return None
        if "*" in self.realtime_cors_origins:
            return "*"
        return list(self.realtime_cors_origins)


class ConfigurationError(SystemExit):
    """Raised at start-up when the environment is incomplete; exits with a readable message."""


def load_settings() -> Settings:
    """Settings from the environment, or exit with one line per problem (no traceback)."""
    try:
        return Settings()  # the values come from the environment
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            problems.append(f"  {name}: {_explain(name, err)}")
        raise ConfigurationError(
            "realtime: invalid configuration, refusing to start:\n" + "\n".join(problems)
        ) from None


def _explain(name: str, err: Any) -> str:
    if name == "REALTIME_TOKEN_SECRET":
        if err["type"] == "missing" or not str(err.get("input") or "").strip():
            return (
                "is required: set it to the secret core signs realtime tokens with "
                f"(at least {SECRET_MIN_LENGTH} characters)"
            )
        return f"must be at least {SECRET_MIN_LENGTH} characters long"
    return str(err["msg"])
