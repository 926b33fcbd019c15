"""render's settings (env prefix VERDICTS_RENDER_), read once in ``create_app``, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RenderSettings(BaseSettings):
    """Where pages go, the public URL, how often a page may re-render, rivals and the gap flag."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_RENDER_", extra="ignore")

    site_dir: Path | None = Field(
        default=None, description="Where pages are written (default: VERDICTS_HOME/site)"
    )
    base_url: str = Field(
        default="", description="Public site URL for feeds and JSON-LD (default: the HTTP address)"
    )
    interval_s: float = Field(default=1.0, gt=0, description="Pages re-render at most once per this")
    rivals: int = Field(default=5, ge=0, le=20, description="Nearest rivals published ahead per tool")
    gap_flag_points: float = Field(default=25.0, gt=0, description="Panel vs community gap flagged from")
