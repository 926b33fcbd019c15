"""Settings shared by every service, read from the environment once.

Wrong values stop start-up with a message naming the variable (see ``load_settings``).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from verdicts.platform.client_address import Network, parse_networks
from verdicts.platform.delivery_settings import DeliverySettings

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
_SCHEMA_URL = re.compile(r"VERDICTS_([A-Z][A-Z0-9_]*)_DATABASE_URL")
_NATS_LOGIN = re.compile(r"VERDICTS_([A-Z][A-Z0-9_]*?)_NATS_(USER|PASSWORD_FILE|PASSWORD)")


class SettingsError(SystemExit):
    """Raised at start-up for a bad setting; its text names the environment variable."""


class NatsLogin(BaseModel):
    """A service's own NATS user (``deploy/nats/nats-server.conf``); the password never printed."""

    user: str
    password: SecretStr


class PlatformSettings(DeliverySettings):
    # populate_by_name: PlatformSettings(site_url=...) works beside the aliased environment names.
    model_config = SettingsConfigDict(env_prefix="VERDICTS_", extra="ignore", populate_by_name=True)

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
    nats_logins: dict[str, NatsLogin] = Field(
        default_factory=dict,
        description="Per service: VERDICTS_<SERVICE>_NATS_USER (default: the service's name) with "
        "VERDICTS_<SERVICE>_NATS_PASSWORD or _NATS_PASSWORD_FILE, its own NATS user; a service "
        "without one connects with VERDICTS_NATS_URL's",
    )
    provision_streams: bool = Field(
        default=True,
        description="Create or update the JetStream streams at start-up with VERDICTS_NATS_URL's user "
        "(stream rights: the admin user); false where an operator provisions them",
    )
    database_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Per schema: VERDICTS_<SCHEMA>_DATABASE_URL (e.g. VERDICTS_REVIEW_PANEL_DATABASE_URL), "
        "the service's own role; a schema without one uses DATABASE_URL",
    )
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
    http_server: Literal["granian", "uvicorn"] = Field(
        default="granian",
        description="What serves the HTTP API in the process: granian (embedded, faster) or uvicorn",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The event loop under granian: uvloop (libuv, where installed) or asyncio's own",
    )
    trace_sample_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of new traces recorded (a trace's later spans follow its first); 1 records all",
    )
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

    def nats_login_for(self, schema: str) -> NatsLogin | None:
        """The NATS user ``schema``'s service connects as, or None for ``VERDICTS_NATS_URL``'s."""
        return self.nats_logins.get(schema)

    @model_validator(mode="before")
    @classmethod
    def _nats_logins(cls, data: Any) -> Any:
        """``VERDICTS_<SERVICE>_NATS_USER`` / ``_NATS_PASSWORD`` / ``_NATS_PASSWORD_FILE``, per service."""
        if not isinstance(data, dict) or data.get("nats_logins"):
            return data
        found: dict[str, dict[str, str]] = {}
        for name, value in os.environ.items():
            if value and (m := _NATS_LOGIN.fullmatch(name)):
                found.setdefault(m.group(1).lower(), {})[m.group(2)] = value
        logins = {}
        for schema, parts in found.items():
            variable = f"VERDICTS_{schema.upper()}_NATS"
            password = parts.get("PASSWORD")
            if password is None and "PASSWORD_FILE" in parts:
                try:
                    password = Path(parts["PASSWORD_FILE"]).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"{variable}_PASSWORD_FILE cannot be read ({exc.strerror})") from None
            if password is None:
                raise ValueError(f"{variable}_USER needs {variable}_PASSWORD or {variable}_PASSWORD_FILE")
            logins[schema] = {"user": parts.get("USER") or schema.replace("_", "-"), "password": password}
        return {**data, "nats_logins": logins} if logins else data

    def database_url_for(self, schema: str) -> str:
        """The URL a schema's service connects with: its own, else the shared ``DATABASE_URL``."""
        return self.database_urls.get(schema) or self.database_url

    @model_validator(mode="before")
    @classmethod
    def _schema_urls(cls, data: Any) -> Any:
        """``VERDICTS_<SCHEMA>_DATABASE_URL`` variables, gathered into ``database_urls``."""
        if isinstance(data, dict) and not data.get("database_urls"):
            found = {
                m.group(1).lower(): value
                for name, value in os.environ.items()
                if value and (m := _SCHEMA_URL.fullmatch(name))
            }
            if found:
                data = {**data, "database_urls": found}
        return data

    @field_validator("database_urls")
    @classmethod
    def _schema_url_schemes(cls, value: dict[str, str]) -> dict[str, str]:
        for schema, url in value.items():
            if not url.startswith(("postgres://", "postgresql://")):
                raise ValueError(f"VERDICTS_{schema.upper()}_DATABASE_URL must start with postgresql://")
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        # parse_networks caches by text: a copy with other proxies (model_copy) sees its own.
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
