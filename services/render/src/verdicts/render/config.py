"""render's settings (env prefix VERDICTS_RENDER_), read once in ``create_app``, never at import.

The public site URL is the platform's ``VERDICTS_SITE_URL`` (``VERDICTS_RENDER_BASE_URL`` is its
older name and still read), so feeds, JSON-LD and cookies agree on one address.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RenderSettings(BaseSettings):
    """Where pages go, how often a page may re-render, rivals, requested pairs and the gap flag."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_RENDER_", extra="ignore")

    site_dir: Path | None = Field(
        default=None, description="Where pages are written (default: VERDICTS_HOME/site)"
    )
    interval_s: float = Field(default=1.0, gt=0, description="Pages re-render at most once per this")
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
