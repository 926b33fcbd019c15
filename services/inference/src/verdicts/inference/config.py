from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERDICTS_", extra="ignore")

    model_url: str = Field(
        default="", description="OpenAI-compatible base URL of the local model server (llama.cpp)"
    )
