"""inference's settings (env prefix ``VERDICTS_INFERENCE_``), read once, in ``create_app``.

Nothing reads the environment at import: ``create_app`` calls ``load_settings`` and hands the
settings to what it wires.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Supervise(StrEnum):
    """Which model server the service runs itself, if any."""

    NONE = "none"
    VLLM = "vllm"
    LLAMA = "llama"


class InferenceSettings(BaseSettings):
    """inference's settings; secrets (API keys) only from the environment, never logged."""

    model_config = SettingsConfigDict(env_prefix="VERDICTS_INFERENCE_", extra="ignore")

    local_url: str = Field(
        default="",
        validation_alias="VERDICTS_MODEL_URL",
        description="OpenAI-compatible base URL of the local llama.cpp server",
    )
    vllm_url: str = Field(default="http://127.0.0.1:8001/v1", description="vLLM (or router) base URL")
    anthropic_base_url: str | None = Field(default=None, description="Anthropic API base URL override")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    routes_file: Path | None = Field(default=None, description="YAML file overriding or adding routes")
    supervise: Supervise = Field(default=Supervise.NONE, description="Model server this service runs")
    vllm_model: str = "HuggingFaceTB/SmolLM3-3B"
    vllm_port: int = Field(default=8001, ge=1, le=65535)
    vllm_max_model_len: int = Field(default=8192, ge=512)
    vllm_gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    vllm_extra_args: str = Field(default="", description="Extra `vllm serve` arguments, space-separated")
