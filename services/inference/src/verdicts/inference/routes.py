"""Routes: the names reviewers use, each bound to a backend, a model and its limits."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import yaml
from pydantic import BaseModel, ConfigDict, Field

from verdicts.inference.config import InferenceSettings
from verdicts.platform.model_server import LOCAL_MODEL_ALIAS

MILLION = Decimal(1_000_000)


class BackendKind(StrEnum):
    OPENAI = "openai"  # OpenAI-compatible HTTP: vLLM, llama.cpp
    ANTHROPIC = "anthropic"


class Dialect(StrEnum):
    """How the backend is told to follow a JSON schema."""

    JSON_SCHEMA = "json_schema"  # response_format json_schema (vLLM, llama.cpp's server)
    TOOL_USE = "tool_use"  # Anthropic: a forced tool whose input schema is the answer's


class Route(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    backend: BackendKind
    base_url: str | None = None
    model: str
    dialect: Dialect
    context_tokens: int = Field(ge=256)
    max_output_tokens: int = Field(ge=1)
    price_in_per_mtok: Decimal = Decimal(0)
    price_out_per_mtok: Decimal = Decimal(0)
    price_cache_read_per_mtok: Decimal | None = Field(
        default=None, description="Price of prompt-cache reads; unset: the input price"
    )
    price_cache_write_per_mtok: Decimal | None = Field(
        default=None, description="Price of prompt-cache writes; unset: the input price"
    )
    max_concurrency: int = Field(default=4, ge=1)
    max_queue: int = Field(default=32, ge=0)
    timeout_s: float = Field(default=120, gt=0)
    max_attempts: int = Field(default=4, ge=1)
    fallback: str | None = None
    breaker_threshold: int = Field(
        default=5, ge=1, description="Upstream failures in a row that open the circuit"
    )
    breaker_cooldown_s: float = Field(default=30, gt=0, description="How long an open circuit refuses calls")
    daily_budget_usd: Decimal | None = None

    def cost(self, tokens_in: int, tokens_out: int, cache_read: int = 0, cache_write: int = 0) -> Decimal:
        """USD for one call; ``tokens_in`` counts every input token, cached ones included."""
        fresh_in = tokens_in - cache_read - cache_write
        return (
            fresh_in * self.price_in_per_mtok
            + cache_read * self._cache_read_price
            + cache_write * self._cache_write_price
            + tokens_out * self.price_out_per_mtok
        ) / MILLION

    def max_cost(self, prompt_tokens: int, max_tokens: int) -> Decimal:
        """The most one call can cost: every prompt token at the dearest input rate, ``max_tokens`` out."""
        dearest_in = max(self.price_in_per_mtok, self._cache_read_price, self._cache_write_price)
        return (prompt_tokens * dearest_in + max_tokens * self.price_out_per_mtok) / MILLION

    @property
    def priced(self) -> bool:
        return self.max_cost(1, 1) > 0

    @property
    def _cache_read_price(self) -> Decimal:
        read = self.price_cache_read_per_mtok
        return self.price_in_per_mtok if read is None else read

    @property
    def _cache_write_price(self) -> Decimal:
        write = self.price_cache_write_per_mtok
        return self.price_in_per_mtok if write is None else write


def default_routes(settings: InferenceSettings) -> dict[str, Route]:
    routes = [
        Route(
            name="local",
            backend=BackendKind.OPENAI,
            base_url=settings.local_url or "http://127.0.0.1:8088/v1",
            model=LOCAL_MODEL_ALIAS,
            dialect=Dialect.JSON_SCHEMA,
            context_tokens=2048,
            max_output_tokens=1024,
            max_concurrency=2,
        ),
        Route(
            name="smollm3",
            backend=BackendKind.OPENAI,
            base_url=settings.vllm_url,
            model=settings.vllm_model,
            dialect=Dialect.JSON_SCHEMA,
            context_tokens=settings.vllm_max_model_len,
            max_output_tokens=2048,
            max_concurrency=32,
            max_queue=256,
            fallback="local",
        ),
        Route(
            name="claude-sonnet-4",
            backend=BackendKind.ANTHROPIC,
            base_url=settings.anthropic_base_url,
            model="claude-sonnet-4-20250514",
            dialect=Dialect.TOOL_USE,
            context_tokens=200_000,
            max_output_tokens=8192,
            price_in_per_mtok=Decimal(3),
            price_out_per_mtok=Decimal(15),
            price_cache_write_per_mtok=Decimal("3.75"),
            price_cache_read_per_mtok=Decimal("0.30"),
            max_concurrency=8,
            max_queue=64,
            daily_budget_usd=Decimal(25),
        ),
    ]
    table = {r.name: r for r in routes}
    if settings.routes_file is not None:
        for item in yaml.safe_load(settings.routes_file.read_text()) or []:
            base = table.get(item.get("name", ""))
            merged = base.model_dump() | item if base else item
            route = Route.model_validate(merged)
            table[route.name] = route
    return table
