"""inference's HTTP: routes and their health, an OpenAI-compatible chat endpoint, metrics."""

from __future__ import annotations

import time
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verdicts.contracts import InferenceErrorKind, Message
from verdicts.inference.errors import GatewayError
from verdicts.inference.gateway import Gateway
from verdicts.platform.http import problem, read_json

STATUS_BY_KIND = {
    InferenceErrorKind.BAD_REQUEST: 400,
    InferenceErrorKind.RATE_LIMITED: 429,
    InferenceErrorKind.BUDGET_EXCEEDED: 429,
    InferenceErrorKind.OVERLOADED: 503,
    InferenceErrorKind.TIMEOUT: 504,
    InferenceErrorKind.DEADLINE_EXCEEDED: 504,
    InferenceErrorKind.INVALID_OUTPUT: 502,
    InferenceErrorKind.UPSTREAM_ERROR: 502,
}


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None

    def schema_(self) -> dict[str, Any] | None:
        fmt = self.response_format or {}
        if fmt.get("type") == "json_schema":
            schema: dict[str, Any] = (fmt.get("json_schema") or {}).get("schema") or {}
            return schema
        if fmt.get("type") == "json_object":
            return dict(fmt.get("schema") or {"type": "object"})
        return None


def gateway_problem(exc: GatewayError) -> Exception:
    headers = {"retry-after": str(max(1, round(exc.retry_after_s)))} if exc.retry_after_s else None
    return problem(
        STATUS_BY_KIND[exc.kind],
        exc.kind.value.replace("_", "-"),
        "Inference failed",
        exc.message,
        headers=headers,
        kind=exc.kind.value,
        retryable=exc.retryable,
        retry_after_s=exc.retry_after_s,
    )


def build_routes(gateway: Gateway, model_health: Any) -> list[HTTPRouteHandler]:
    @get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """Routes (as OpenAI model ids) with their backend and health."""
        data = []
        for route in gateway.routes.values():
            data.append(
                {
                    "id": route.name,
                    "object": "model",
                    "owned_by": route.backend.value,
                    "model": route.model,
                    "backend": route.backend.value,
                    "circuit": gateway.breakers[route.name].state.value,
                    "health": await model_health(route),
                    "queue": gateway.limiters[route.name].waiting,
                    "running": gateway.limiters[route.name].running,
                }
            )
        return {"object": "list", "data": data}

    @post("/v1/chat/completions", status_code=200)
    async def chat_completions(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await read_json(request, max_bytes=4 * 1024 * 1024)
        try:
            chat = ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise problem(
                400, "bad-request", "Bad request", f"{field}: {first['msg']}", field=field
            ) from None
        route = gateway.routes.get(chat.model)
        max_tokens = (
            chat.max_completion_tokens or chat.max_tokens or (route.max_output_tokens if route else 256)
        )
        try:
            # HTTP callers send no deadline: receipt + the route's timeout.
            job = gateway.job(
                chat.model,
                chat.messages,
                schema=chat.schema_(),
                max_tokens=max_tokens,
                temperature=chat.temperature,
                seed=chat.seed,
                deadline=None,
                caller=chat.user or "http",
            )
            reply = await gateway.run(job)
        except GatewayError as exc:
            raise gateway_problem(exc) from None
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.raw_text},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": reply.usage.tokens_in,
                "completion_tokens": reply.usage.tokens_out,
                "total_tokens": reply.usage.tokens_in + reply.usage.tokens_out,
            },
            "verdicts": {"route": reply.route, "backend": reply.backend, "cost_usd": str(reply.cost_usd)},
        }

    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response[bytes]:
        return Response(gateway.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return [list_models, chat_completions, metrics]
