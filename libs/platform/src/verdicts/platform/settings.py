"""Settings shared by every service, read from the environment once.

Wrong values stop start-up with a message naming the variable (see ``load_settings``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from verdicts.platform.client_address import Network, parse_networks

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
    site_url: Annotated[
        str,
        Field(
            default="",
            validation_alias=AliasChoices("VERDICTS_SITE_URL", "VERDICTS_RENDER_BASE_URL"),
            description="The public site's base URL (https makes cookies Secure); default: the HTTP address",
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
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of proxies whose X-Forwarded-For is believed",
    )
    public_rate_per_s: float = Field(default=50.0, gt=0, description="Public reads per second per client")
    public_burst: int = Field(default=500, ge=1, description="Public reads one client may burst")
    key_requests_per_minute: int = Field(default=600, ge=1, description="Requests a minute per API key")
    key_tools_per_day: int = Field(default=1000, ge=0, description="Tools one key may announce a day")
    key_reruns_per_day: int = Field(default=100, ge=0, description="Panel re-runs one key may start a day")
    key_inference_tokens_per_day: int = Field(
        default=1_000_000, ge=0, description="Inference tokens (prompt + completion) per key a day"
    )

    @functools.cached_property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

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

    @field_validator("site_url")
    @classmethod
    def _site_scheme(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

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
