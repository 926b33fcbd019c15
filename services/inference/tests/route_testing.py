"""A small priced route for inference's tests (one definition; tests override what they need)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from verdicts.inference.domain import BackendKind, Dialect, Route


def small_route(**overrides: Any) -> Route:
    """Route "r": OpenAI-compatible, 64 output tokens, $1 / $2 per million tokens in / out."""
    fields: dict[str, Any] = {
        "name": "r",
        "backend": BackendKind.OPENAI,
        "model": "m",
        "dialect": Dialect.JSON_SCHEMA,
        "context_tokens": 2048,
        "max_output_tokens": 64,
        "price_in_per_mtok": Decimal(1),
        "price_out_per_mtok": Decimal(2),
    }
    return Route(**(fields | overrides))
