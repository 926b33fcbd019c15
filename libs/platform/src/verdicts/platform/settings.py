"""Settings shared by every service, read from the environment once.

Wrong values stop start-up with a message naming the variable (see ``load_settings``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class SettingsError(SystemExit):
    """Raised at start-up for a bad setting; its text names the environment variable."""


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICTS_", extra="ignore")

    nats_url: str = Field(
        default="",
        description="NATS server URL; empty means `verdicts up` starts an embedded nats-server",
    )
    database_url: Annotated[
        str,
        Field(
            default="",
            validation_alias=AliasChoices("DATABASE_URL", "VERDICTS_DATABASE_URL"),
            description="PostgreSQL URL; empty means `verdicts up` starts an embedded PostgreSQL",
        ),
    ]
    home: Path = Field(default=Path(".verdicts"), description="Where embedded data lives")
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port")
    model_url: str = Field(
        default="",
        description="OpenAI-compatible URL of the local model server; empty starts llama.cpp",
    )
    max_deliver: int = Field(
        default=5, ge=1, le=100, description="Deliveries before a message is dead-lettered"
    )
    ack_wait_s: float = Field(default=30.0, gt=0, description="Seconds before redelivery")
    duplicate_window_s: float = Field(
        default=120.0, gt=0, description="JetStream de-duplication window (Nats-Msg-Id)"
    )
    log_level: str = Field(default="INFO", description="Python log level")
    log_json: bool = Field(default=True, description="JSON log lines (false: plain text)")
    outbox_poll_s: float = Field(default=1.0, gt=0, description="Outbox relay poll interval when idle")
    outbox_max_backoff_s: float = Field(
        default=10.0, gt=0, description="Longest pause between outbox relay retries"
    )
    db_pool_max: int = Field(default=10, ge=1, le=500)

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, value: str) -> str:
        if value and not value.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise ValueError("must start with nats://, tls://, ws:// or wss://")
        return value

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, value: str) -> str:
        if value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a settings field is read from."""
    info = settings_cls.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Read settings, turning a validation error into one line per bad variable."""
    try:
        return settings_cls()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = env_name(settings_cls, field) if field in settings_cls.model_fields else field
            lines.append(f"invalid setting {name}: {error['msg']}")
        raise SettingsError("\n".join(lines)) from None


@functools.cache
def platform_settings() -> PlatformSettings:
    """Cached: tests set the environment before the first call."""
    return load_settings(PlatformSettings)
