"""review-panel's settings (env prefix VERDICTS_REVIEW_PANEL_), read once by ``create_app``.

Where the personas and the route assignment come from, the self-judging guard's route families,
how reviews are generated (tokens, temperature, seed), how a review job waits and retries, and how
long an open run blocks a re-run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PanelSettings(BaseSettings):
    """review-panel's settings; every one has a default."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_REVIEW_PANEL_", extra="ignore")

    assignment_file: Path | None = Field(
        default=None, description="YAML: persona id -> route (default: each persona's default_route)"
    )
    personas_dir: Path | None = Field(
        default=None, description="Where persona files live (default: built in)"
    )
    route_families: dict[str, str] = Field(
        default={"local": "smollm", "smollm3": "smollm", "claude-sonnet-4": "claude"},
        description="The model family each route serves (the self-judging guard)",
    )
    route_preference: list[str] = Field(
        default=["local", "smollm3", "claude-sonnet-4"], description="Where a guarded job may go, in order"
    )
    available_routes: list[str] | None = Field(
        default=None, description="Routes the guard may use (default: those in the assignment)"
    )
    concurrency: int = Field(default=2, ge=1, le=64, description="Reviews generated at once per process")
    max_tokens: int = Field(default=768, ge=64, description="Answers of SmolLM2-135M ran to 577 tokens")
    temperature: float = Field(default=0.3, ge=0, le=2)
    seed: int = 20251125
    inference_timeout_s: float = Field(default=180, gt=0)
    job_max_deliver: int = Field(default=12, ge=2, description="Attempts of one review job before it fails")
    retry_max_delay_s: float = Field(
        default=30, gt=0, description="Longest wait before a job retries an unavailable route"
    )
    run_in_progress_max_s: float = Field(
        default=6 * 3600,
        gt=0,
        description="A panel run still open after this long (its jobs lost) no longer blocks a re-run",
    )
