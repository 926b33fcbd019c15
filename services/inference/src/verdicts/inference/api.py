"""inference's HTTP API: routes as OpenAI models with their health, an OpenAI-compatible chat
endpoint (its Prometheus metrics are served at the platform's ``/metrics``). Failures are
problem+json, with OpenAI's status codes.

The models and chat routes need a key with the ``inference`` scope (OpenAI SDK clients pass it as
their ``api_key``); the key is the caller in the usage ledger and pays a daily token quota: the
most a request can use is held before anything is sent upstream, and settled at what it used.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, Router, get, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.params import JSONBody
from litestar.plugins.problem_details import ProblemDetailsException
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import InferenceErrorKind, InferenceReply, Message
from verdicts.inference.domain import (
    GatewayError,
    GenerationJob,
    check_limits,
    key_caller,
    max_request_tokens,
)
from verdicts.inference.gateway import Gateway, TokenMeter
from verdicts.platform.access.guards import requires, settle, spend
from verdicts.platform.access.keys import ApiKey, Scope
from verdicts.platform.deps import Caller, Injected, RuntimeDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.openapi import problem_responses
from verdicts.platform.service import Runtime

log = logging.getLogger(__name__)

CHAT_BODY_LIMIT = 4 * 1024 * 1024  # a long prompt and its schema; the context caps tokens anyway
QUOTA_KIND = "inference_tokens"  # the per-key daily quota the chat route counts against

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


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    """Any JSON object; llama.cpp also takes a ``schema`` here."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["json_object"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = "answer"
    description: str | None = None
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; other fields the OpenAI SDK may send are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="A route name (see GET /v1/models)")
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    seed: int | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(
        default=None,
        description="Accepted as OpenAI accepts it, not trusted: the usage ledger records the API key",
    )

    def answer_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must follow, if the request asks for one."""
        fmt = self.response_format
        if isinstance(fmt, JsonSchemaFormat):
            return fmt.json_schema.json_schema
        if isinstance(fmt, JsonObjectFormat):
            return dict(fmt.json_schema or {"type": "object"})
        return None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class VerdictsDetails(BaseModel):
    """What OpenAI does not say: the route and backend that answered, and what it cost."""

    route: str
    backend: str
    cost_usd: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    verdicts: VerdictsDetails

    @classmethod
    def of(cls, reply: InferenceReply) -> ChatCompletion:
        return cls(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=reply.model,
            choices=[
                Choice(
                    index=0,
                    message=AssistantMessage(content=reply.raw_text),
                    finish_reason=reply.finish_reason,
                )
            ],
            usage=CompletionUsage(
                prompt_tokens=reply.usage.tokens_in,
                completion_tokens=reply.usage.tokens_out,
                total_tokens=reply.usage.tokens_in + reply.usage.tokens_out,
            ),
            verdicts=VerdictsDetails(route=reply.route, backend=reply.backend, cost_usd=str(reply.cost_usd)),
        )


class ModelCard(BaseModel):
    """A route as an OpenAI model, with its backend, circuit, health and queue."""

    id: str
    object: Literal["model"] = "model"
    owned_by: str
    model: str
    backend: str
    circuit: str
    health: str
    queue: int
    running: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


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


def bad_request_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every 400 of the chat endpoint, the OpenAI way (the SDK's ``BadRequestError``, never a 422).

    An invalid body names its field (``bad-request``); a body that is not JSON is
    ``malformed-json``; a problem of ours (a refused request) passes as it is.
    """
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    if isinstance(exc, ValidationException):
        errors = [
            {"field": item.get("key") or "body", "message": item.get("message") or "invalid"}
            for item in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(item, dict)
        ] or [{"field": "body", "message": str(exc.detail or "invalid request")}]
        field = errors[0]["field"]
        if field == "data":  # the handler's argument itself: no body at all
            return problem(
                400, "malformed-json", "Malformed JSON", "the body is empty", field="body"
            ).to_response(request)
        return problem(
            400, "bad-request", "Bad request", f"{field}: {errors[0]['message']}", field=field, errors=errors
        ).to_response(request)
    detail = str(exc.detail) if isinstance(exc, HTTPException) else str(exc)
    if isinstance(exc.__cause__, SerializationException):
        return problem(400, "malformed-json", "Malformed JSON", detail, field="body").to_response(request)
    return problem(400, "bad-request", "Bad request", detail).to_response(request)


async def settle_tokens(runtime: Runtime, caller: ApiKey, reserved: int, used: int) -> None:
    """Give back what a request held and did not use; never lose its answer (or error) over it."""
    try:
        # Shielded: a request cancelled mid-call still gives back what it did not use.
        await asyncio.shield(settle(runtime, caller, QUOTA_KIND, reserved, used))
    except Exception as exc:
        log.error("token quota not settled", extra={"key_id": caller.key_id, "error": repr(exc)})


class ModelController(Controller):
    path = "/v1/models"
    tags = ["inference"]

    @get("/", guards=[requires(Scope.INFERENCE)])
    async def list_models(self, gateway: Injected[Gateway]) -> ModelList:
        """Routes (as OpenAI model ids) with their backend, circuit, health and queue."""
        cards = []
        for route in gateway.routes.values():
            limiter = gateway.limiters[route.name]
            cards.append(
                ModelCard(
                    id=route.name,
                    owned_by=route.backend.value,
                    model=route.model,
                    backend=route.backend.value,
                    circuit=gateway.breakers[route.name].state.value,
                    health=await gateway.health(route),
                    queue=limiter.waiting,
                    running=limiter.running,
                )
            )
        return ModelList(data=cards)


class ChatController(Controller):
    path = "/v1/chat/completions"
    tags = ["inference"]
    # By status: Litestar's own 400s (validation, undecodable JSON) and ours come here.
    exception_handlers = {400: bad_request_problem}

    @post(
        "/",
        # The key first: 401 before 415.
        guards=[requires(Scope.INFERENCE), json_body],
        request_max_body_size=CHAT_BODY_LIMIT,
        status_code=200,
        responses=problem_responses(400, 413, 415, 502, 503, 504),
    )
    async def chat_completions(
        self,
        data: JSONBody[ChatCompletionRequest],
        gateway: Injected[Gateway],
        runtime: RuntimeDep,
        caller: Caller,
    ) -> ChatCompletion:
        """OpenAI-compatible chat completion on a route; ``response_format`` json_schema is enforced.

        Counts against the key's daily token quota (429 with ``Retry-After`` when spent)."""
        route = gateway.routes.get(data.model)
        max_tokens = (
            data.max_completion_tokens or data.max_tokens or (route.max_output_tokens if route else 256)
        )
        try:
            # HTTP callers send no deadline: receipt + the route's timeout.
            job = GenerationJob.start(
                gateway.route(data.model),
                data.messages,
                schema=data.answer_schema(),
                max_tokens=max_tokens,
                temperature=data.temperature,
                seed=data.seed,
                deadline=None,
                caller=key_caller(caller.key_id),
            )
            # Bad input is refused before the quota is touched, as it is before any upstream call.
            check_limits(job)
        except GatewayError as exc:
            raise gateway_problem(exc) from None
        reserved = max_request_tokens(job, gateway.fallback_of(job.route))
        await spend(runtime, caller, QUOTA_KIND, reserved, runtime.settings.key_inference_tokens_per_day)
        meter = TokenMeter()
        try:
            reply = await gateway.run(job, meter=meter)
        except GatewayError as exc:
            raise gateway_problem(exc) from None
        finally:
            await settle_tokens(runtime, caller, reserved, meter.tokens)
        return ChatCompletion.of(reply)


def build_router(gateway: Gateway) -> Router:
    return Router(
        path="/",
        route_handlers=[ModelController, ChatController],
        dependencies={"gateway": Provide(lambda: gateway, sync_to_thread=False)},
    )
