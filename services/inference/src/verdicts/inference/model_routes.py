"""Model routes: the built-in table of routes reviewers name, and the routes file that adds to it.

A route (``domain.Route``) binds a name to a backend, a model, its limits and prices; this is
where the service's own routes come from (``VERDICTS_INFERENCE_ROUTES_FILE`` overrides or adds).
"""

from __future__ import annotations

from decimal import Decimal

import yaml

from verdicts.inference.config import InferenceSettings
from verdicts.inference.domain import BackendKind, Dialect, Route
from verdicts.platform.model_server import LOCAL_MODEL_ALIAS


def default_routes(settings: InferenceSettings) -> dict[str, Route]:
    """The built-in routes (local, smollm3, claude-sonnet-4), then the routes file's, by name."""
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
