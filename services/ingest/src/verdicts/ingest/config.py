"""ingest's settings (env prefix VERDICTS_INGEST_), read once in create_app, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """Body and batch limits, page size, and whose ``model_family`` claims are kept."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_INGEST_", extra="ignore")

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest request body")
    max_batch_items: int = Field(default=1000, ge=1, description="Most tools in one batch")
    page_size_max: int = Field(default=200, ge=1, description="Largest page of GET /v1/tools")
    trust_model_family: bool = Field(
        default=False,
        description="Keep the model_family submitters send (it steers the panel's self-judging guard); "
        "when false it is dropped, since any submitter could claim a family to pick its reviewer",
    )
