from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VotesSettings(BaseSettings):
    """votes' settings; the token secret only from the environment (or the embedded home)."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_VOTES_", extra="ignore")

    token_secret: SecretStr | None = Field(
        default=None,
        description="Signs voter tokens (default: a random one kept in VERDICTS_HOME, embedded stack only)",
    )
    voter_rate_per_s: float = Field(default=2.0, gt=0, description="Ballots per second one voter may cast")
    voter_burst: int = Field(default=10, ge=1)
    address_rate_per_s: float = Field(
        default=50.0, gt=0, description="Requests per second per client address"
    )
    address_burst: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=2048, ge=256)
    batch_size: int = Field(default=1000, ge=1, le=10_000, description="Ballots written per transaction")
    tally_interval_s: float = Field(
        default=1.0, gt=0, description="At most one tally event per tool per this"
    )
    ranking_interval_s: float = Field(default=60.0, gt=0, description="How often rankings are refitted")
    bootstrap_rounds: int = Field(default=200, ge=10)
    discard_buffer: int = Field(default=50_000, ge=100, description="Discard records held between flushes")
