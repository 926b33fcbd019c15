"""votes' settings, read once; the voter-token secret resolved at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from verdicts.platform.secret_files import checked_secret, kept_secret


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
    mint_per_minute: float = Field(
        default=3.0, gt=0, description="Voter tokens a minute one client address (IPv6: its /64) may mint"
    )
    mint_burst: int = Field(default=5, ge=1, description="Voter tokens one client address may mint at once")
    altcha_max_number: int = Field(
        default=200_000,
        ge=1,
        le=100_000_000,
        description="Proof-of-work difficulty: a voter tries max_number / 2 SHA-256 hashes on average",
    )
    altcha_expiry_s: int = Field(
        default=600, ge=10, le=86_400, description="How long a proof-of-work challenge may be solved"
    )
    batch_size: int = Field(default=1000, ge=1, le=10_000, description="Ballots written per transaction")
    tally_interval_s: float = Field(
        default=1.0, gt=0, description="At most one tally event per tool per this"
    )
    ranking_interval_s: float = Field(
        default=60.0, gt=0, description="Rankings are refitted at least this often"
    )
    ranking_spacing_s: float = Field(
        default=1.0, ge=0, description="After head-to-head ballots, at most one refit per this"
    )
    ranking_min_comparisons: int = Field(
        default=30, ge=1, description="A category's ranking is provisional below this many comparisons"
    )
    bootstrap_rounds: int = Field(default=200, ge=10)
    discard_buffer: int = Field(default=50_000, ge=100, description="Discard records held between flushes")


def token_secret(settings: VotesSettings, home: Path) -> str:
    """VERDICTS_VOTES_TOKEN_SECRET, or on the embedded stack a random secret kept (0600) in ``home``."""
    if settings.token_secret is not None:
        return checked_secret(settings.token_secret.get_secret_value(), "VERDICTS_VOTES_TOKEN_SECRET")
    return kept_secret(home / "votes-token-secret")
