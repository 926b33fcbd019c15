"""OpenAI-compatible upstreams (vLLM in production, llama.cpp locally) through the openai SDK."""

from __future__ import annotations

from typing import Any

import httpx
import openai

from verdicts.contracts import InferenceErrorKind
from verdicts.inference.backends import Completion
from verdicts.inference.domain import (
    Dialect,
    GatewayError,
    GenerationJob,
    Route,
    classify_status,
    error_detail,
)


def response_format(dialect: Dialect, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


class OpenAICompatibleBackend:
    name = "openai-compatible"

    def __init__(self, api_key: str | None = None) -> None:
        self._api_key = api_key or "unused"
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def _client(self, base_url: str) -> openai.AsyncOpenAI:
        if base_url not in self._clients:
            # Retries are the gateway's (it knows deadlines and budgets).
            self._clients[base_url] = openai.AsyncOpenAI(
                base_url=base_url, api_key=self._api_key, max_retries=0
            )
        return self._clients[base_url]

    async def health(self, route: Route) -> str:
        """Whether the upstream answers ``GET /models`` (what vLLM and llama.cpp serve it as)."""
        if not route.base_url:
            return "configured"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"{route.base_url.rstrip('/')}/models")
            return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            return f"unreachable ({exc.__class__.__name__})"

    async def complete(self, job: GenerationJob) -> Completion:
        route = job.route
        assert route.base_url, f"route {route.name} has no base_url"
        extra: dict[str, Any] = {}
        fmt = response_format(route.dialect, job.schema)
        if fmt is not None:
            extra["response_format"] = fmt
        if job.seed is not None:
            extra["seed"] = job.seed
        try:
            response = await self._client(route.base_url).chat.completions.create(
                model=route.model,
                messages=[{"role": m.role.value, "content": m.content} for m in job.messages],  # type: ignore[misc]
                max_tokens=job.max_tokens,
                temperature=job.temperature,
                timeout=job.seconds_left(),
                **extra,
            )
        except openai.APITimeoutError:
            raise GatewayError(InferenceErrorKind.TIMEOUT, f"{route.name}: upstream timed out") from None
        except openai.APIConnectionError as exc:
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR, f"{route.name}: {exc.__class__.__name__}"
            ) from None
        except openai.APIStatusError as exc:
            raise classify(route, exc) from None
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            parsed=None,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason or "stop",
            model=response.model or route.model,
        )


def classify(route: Route, exc: openai.APIStatusError) -> GatewayError:
    return classify_status(
        route, exc.status_code, exc.response.headers, overloaded_status=503, detail=error_detail(exc.body)
    )
