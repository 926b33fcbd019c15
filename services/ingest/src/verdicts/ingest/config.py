from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICTS_INGEST_", extra="ignore")

    max_body_bytes: int = 1024 * 1024
    max_batch_items: int = 1000
