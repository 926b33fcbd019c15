"""render's settings (env prefix VERDICTS_RENDER_), read once in ``create_app``, never at import.

The public site URL is the platform's ``VERDICTS_SITE_URL`` (``VERDICTS_RENDER_BASE_URL`` is its
older name and still read), so feeds, JSON-LD and cookies agree on one address.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from verdicts.platform.secret_files import checked_secret, kept_secret
from verdicts.platform.settings import SettingsError

log = logging.getLogger(__name__)


class RenderSettings(BaseSettings):
    """Where pages go, how often a page may re-render, rivals, requested pairs and the gap flag."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_RENDER_", extra="ignore")

    site_dir: Path | None = Field(
        default=None, description="Where pages are written (default: VERDICTS_HOME/site)"
    )
    interval_s: float = Field(default=0.25, gt=0, description="Pages re-render at most once per this")
    rivals: int = Field(default=5, ge=0, le=20, description="Nearest rivals published ahead per tool")
    max_pairs: int = Field(
        default=200,
        ge=0,
        le=100_000,
        description=(
            "Comparisons kept current through POST /v1/comparisons, at most this many per category "
            "(a pair of tools from two categories counts in both). Rivals are not counted: they are "
            "bounded by `rivals` per tool. Pages read at /compare/A-vs-B are rendered for the reader "
            "and never kept."
        ),
    )
    gap_flag_points: float = Field(default=25.0, gt=0, description="Panel vs community gap flagged from")

    # The weekly issue by email (render owns the subscribers: it owns the issue they receive).
    smtp_host: str = Field(
        default="", description="SMTP server for the weekly mail (empty: no mail; `verdicts up` runs a sink)"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="STARTTLS on a plain port, TLS from the start (465), or none"
    )
    smtp_username: str = Field(default="", description="SMTP login (empty: none)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_password_file: Path | None = Field(default=None, description="SMTP password from a mounted file")
    smtp_timeout_s: float = Field(default=30.0, gt=0, description="One SMTP command waits at most this")
    mail_from: str = Field(
        default="", description='The mails\' From (default: "Weekly AI Tool Verdicts <weekly@SITE HOST>")'
    )
    mail_secret: SecretStr | None = Field(
        default=None,
        description="Signs confirmation and unsubscribe links (default: a random one kept in VERDICTS_HOME)",
    )
    mail_secret_file: Path | None = Field(default=None, description="The link secret from a mounted file")
    confirm_ttl_s: int = Field(default=172_800, ge=60, description="A confirmation link works this long")
    confirm_every_s: int = Field(
        default=3600, ge=0, description="At most one confirmation mail per address per this"
    )
    pending_ttl_s: int = Field(
        default=604_800, ge=3600, description="Unconfirmed addresses are deleted after this"
    )
    subscribe_per_minute: float = Field(default=6.0, gt=0, description="Sign-ups a minute per client address")
    subscribe_burst: int = Field(default=10, ge=1)
    newsletter_weekday: int = Field(
        default=1, ge=1, le=7, description="ISO weekday last week's issue is sent"
    )
    newsletter_hour: int = Field(default=9, ge=0, le=23, description="Hour (UTC) last week's issue is sent")
    newsletter_check_s: float = Field(default=60.0, gt=0, description="How often the schedule looks")
    newsletter_batch: int = Field(default=50, ge=1, le=1000, description="Mails per SMTP connection")
    newsletter_attempts: int = Field(default=5, ge=1, le=50, description="Tries per mail on temporary errors")
    newsletter_retry_s: float = Field(default=30.0, gt=0, description="First retry delay (doubles, capped)")
    newsletter_retry_cap_s: float = Field(default=1800.0, gt=0)


def secret_value(value: SecretStr | None, file: Path | None, variable: str) -> str | None:
    """A secret given directly or as a mounted file (the file wins); ``None`` when neither."""
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{variable}_FILE cannot be read ({exc.strerror})") from None
    return (value.get_secret_value() or None) if value is not None else None


def mail_secret(settings: RenderSettings, home: Path) -> str:
    """VERDICTS_RENDER_MAIL_SECRET(_FILE), or on the embedded stack a random one kept (0600) in ``home``."""
    secret = secret_value(settings.mail_secret, settings.mail_secret_file, "VERDICTS_RENDER_MAIL_SECRET")
    if secret is not None:
        return checked_secret(secret, "VERDICTS_RENDER_MAIL_SECRET")
    path = home / "render-mail-secret"
    try:
        return kept_secret(path)
    except OSError as exc:
        # A read-only home: links work while this process runs; set the secret to keep them.
        log.warning(
            "VERDICTS_RENDER_MAIL_SECRET unset and %s cannot be kept (%s): mail links die with this process",
            path,
            exc.strerror,
        )
        return secrets.token_urlsafe(48)
