"""The gateway: one request in, a schema-valid answer (or a typed error) out, on any route."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jsonschema
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from verdicts.contracts import InferenceErrorKind, InferenceReply, InferenceRequest, Message, Role
from verdicts.contracts.inference import Usage
from verdicts.inference.backends import Backend, Completion
from verdicts.inference.errors import GatewayError, bad_request
from verdicts.inference.metrics import GatewayMetrics
from verdicts.inference.resilience import BoundedLimiter, CircuitBreaker
from verdicts.inference.routes import Route

log = logging.getLogger(__name__)

FALLBACK_ON = {
    InferenceErrorKind.OVERLOADED,
    InferenceErrorKind.UPSTREAM_ERROR,
    InferenceErrorKind.TIMEOUT,
    InferenceErrorKind.RATE_LIMITED,
}
CHARS_PER_TOKEN = 3  # conservative: over-counts tokens, so a long prompt is refused early


@dataclass(frozen=True, slots=True)
class UsageRecord:
    route: str
    backend: str
    model: str
    caller: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    latency_ms: float
    outcome: str


class Ledger:
    """Where usage goes and budgets come from (``store.PostgresLedger`` in the service)."""

    async def spent_today(self, route: str) -> Decimal:
        return Decimal(0)

    async def record(self, usage: UsageRecord) -> None:
        return None


def estimate_tokens(messages: list[Message]) -> int:
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + 4 for m in messages)


def check_schema(schema: dict[str, Any]) -> None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise bad_request(f"json_schema is not a valid JSON schema: {exc.message}") from None
    if schema.get("type") != "object":
        raise bad_request('json_schema must describe an object ("type": "object")')


def parse_answer(completion: Completion, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The answer and ``None``, or ``None`` and why it does not follow the schema."""
    answer: Any = completion.parsed
    if answer is None:
        try:
            answer = json.loads(completion.text)
        except json.JSONDecodeError as exc:
            return None, f"not JSON ({exc.msg})"
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(answer), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return None, f"{where}: {errors[0].message}"
    if not isinstance(answer, dict):
        return None, "the answer must be a JSON object"
    return answer, None


class Gateway:
    def __init__(
        self,
        routes: dict[str, Route],
        backends: dict[str, Backend],
        *,
        ledger: Ledger | None = None,
        metrics: GatewayMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.routes = routes
        self.backends = backends
        self.ledger = ledger or Ledger()
        self.metrics = metrics or GatewayMetrics()
        self.sleep = sleep
        self.limiters = {r.name: BoundedLimiter(r.max_concurrency, r.max_queue) for r in routes.values()}
        self.breakers = {
            r.name: CircuitBreaker(r.breaker_threshold, r.breaker_cooldown_s) for r in routes.values()
        }
        self._pending: set[asyncio.Task[None]] = set()

    def route(self, name: str) -> Route:
        route = self.routes.get(name)
        if route is None:
            raise bad_request(f"unknown route {name!r}; known: {', '.join(sorted(self.routes))}")
        return route

    async def generate(self, request: InferenceRequest) -> InferenceReply:
        """Schema-following generation; raises ``GatewayError``."""
        return await self.call(
            request.route,
            list(request.messages),
            schema=request.json_schema,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            deadline=request.deadline,
            caller=request.caller,
        )

    async def call(
        self,
        route_name: str,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        deadline: datetime | None,
        caller: str,
    ) -> InferenceReply:
        route = self.route(route_name)
        if schema is not None:
            check_schema(schema)
        try:
            return await self._on_route(
                route, messages, schema, max_tokens, temperature, seed, deadline, caller
            )
        except GatewayError as exc:
            exc.route = exc.route or route.name
            if route.fallback and exc.kind in FALLBACK_ON and route.fallback in self.routes:
                log.warning(
                    "falling back", extra={"route": route.name, "to": route.fallback, "error": exc.message}
                )
                fallback = self.routes[route.fallback]
                reply = await self._on_route(
                    fallback, messages, schema, max_tokens, temperature, seed, deadline, caller
                )
                return reply.model_copy(update={"fallback_from": route.name})
            raise

    def _validate(self, route: Route, messages: list[Message], max_tokens: int) -> None:
        if not messages:
            raise bad_request("messages must not be empty", route.name)
        if not 1 <= max_tokens <= route.max_output_tokens:
            raise bad_request(
                f"max_tokens must be 1..{route.max_output_tokens} on route {route.name}", route.name
            )
        needed = estimate_tokens(messages) + max_tokens
        if needed > route.context_tokens:
            raise bad_request(
                f"prompt (~{needed - max_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the "
                f"{route.context_tokens}-token context of route {route.name}",
                route.name,
            )

    async def _on_route(
        self,
        route: Route,
        messages: list[Message],
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        deadline: datetime | None,
        caller: str,
    ) -> InferenceReply:
        self._validate(route, messages, max_tokens)
        if route.daily_budget_usd is not None:
            await self.drain()  # count what was just spent
            spent = await self.ledger.spent_today(route.name)
            if spent >= route.daily_budget_usd:
                raise GatewayError(
                    InferenceErrorKind.BUDGET_EXCEEDED,
                    f"{route.name}: daily budget of {route.daily_budget_usd} USD spent ({spent})",
                    retryable=True,
                    retry_after_s=seconds_to_midnight(),
                    route=route.name,
                )
        backend = self.backends[route.backend.value]
        started = time.perf_counter()
        ends_at = time.monotonic() + remaining_s(deadline, route.timeout_s)
        outcome = "error"
        completion: Completion | None = None
        answer: dict[str, Any] | None = None
        tokens_in = tokens_out = 0
        try:
            self.breakers[route.name].check(route.name)
            async with self.limiters[route.name].slot(route.name):
                self.metrics.queue_depth.labels(route.name).set(self.limiters[route.name].waiting)
                completion = await self._attempts(
                    route, backend, messages, schema, max_tokens, temperature, seed, ends_at
                )
                tokens_in, tokens_out = completion.tokens_in, completion.tokens_out
                if schema is not None:
                    answer, problem = parse_answer(completion, schema)
                    if problem is not None:
                        # One repair attempt: show the model its answer and what is wrong with it.
                        repair = [
                            *messages,
                            Message(role=Role.ASSISTANT, content=completion.text or "(empty)"),
                            Message(
                                role=Role.USER,
                                content=f"That answer does not follow the JSON schema ({problem}). "
                                "Reply again with only a JSON object that follows the schema.",
                            ),
                        ]
                        completion = await self._attempts(
                            route, backend, repair, schema, max_tokens, temperature, seed, ends_at
                        )
                        tokens_in += completion.tokens_in
                        tokens_out += completion.tokens_out
                        answer, problem = parse_answer(completion, schema)
                        if problem is not None:
                            raise GatewayError(
                                InferenceErrorKind.INVALID_OUTPUT,
                                f"{route.name}: no schema-valid answer after a repair attempt: {problem}",
                                route=route.name,
                            )
            outcome = "ok"
        except GatewayError as exc:
            outcome = exc.kind.value
            exc.route = exc.route or route.name
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            cost = route.cost(tokens_in, tokens_out)
            self.metrics.observe(route.name, outcome, tokens_in, tokens_out, latency_ms / 1000)
            self.metrics.queue_depth.labels(route.name).set(self.limiters[route.name].waiting)
            # Recorded before the reply goes out, written just after it.
            if tokens_in or tokens_out or outcome == "ok":
                self._record(
                    UsageRecord(
                        route.name,
                        backend.name,
                        completion.model if completion else route.model,
                        caller,
                        tokens_in,
                        tokens_out,
                        cost,
                        latency_ms,
                        outcome,
                    )
                )
        assert completion is not None
        return InferenceReply(
            answer=answer if answer is not None else {"text": completion.text},
            raw_text=completion.text,
            route=route.name,
            backend=backend.name,
            model=completion.model,
            usage=Usage(tokens_in=tokens_in, tokens_out=tokens_out),
            cost_usd=cost,
            latency_ms=latency_ms,
            finish_reason=completion.finish_reason,
        )

    def _record(self, usage: UsageRecord) -> None:
        """Write the ledger off the reply's path (a failed write is logged, never raised)."""

        async def write() -> None:
            try:
                await self.ledger.record(usage)
            except Exception as exc:
                log.error("usage ledger write failed", extra={"route": usage.route, "error": repr(exc)})

        task = asyncio.get_running_loop().create_task(write())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for ledger writes in flight (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _attempts(
        self,
        route: Route,
        backend: Backend,
        messages: list[Message],
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        ends_at: float,
    ) -> Completion:
        """Retry retryable upstream errors with jittered backoff, honouring retry-after and the deadline."""
        breaker = self.breakers[route.name]

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            backoff = min(8.0, 0.25 * 2 ** (state.attempt_number - 1)) * (0.5 + random.random())  # noqa: S311
            delay = (
                exc.retry_after_s
                if isinstance(exc, GatewayError) and exc.retry_after_s is not None
                else backoff
            )
            if time.monotonic() + delay >= ends_at:
                raise timeout_error(route) from exc
            return delay

        retrying = AsyncRetrying(
            stop=stop_after_attempt(route.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, GatewayError) and e.retryable),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                left = ends_at - time.monotonic()
                if left <= 0:
                    raise timeout_error(route)
                try:
                    completion = await asyncio.wait_for(
                        backend.complete(
                            route,
                            messages,
                            schema=schema,
                            max_tokens=max_tokens,
                            temperature=temperature,
                            seed=seed,
                            timeout_s=left,
                        ),
                        timeout=left,
                    )
                except TimeoutError:
                    breaker.failure()
                    raise timeout_error(route) from None
                except GatewayError as exc:
                    if exc.kind in (InferenceErrorKind.UPSTREAM_ERROR, InferenceErrorKind.TIMEOUT):
                        breaker.failure()
                    raise
                breaker.success()
                return completion
        raise AssertionError("unreachable")


def timeout_error(route: Route) -> GatewayError:
    return GatewayError(InferenceErrorKind.TIMEOUT, f"{route.name}: deadline passed", route=route.name)


def remaining_s(deadline: datetime | None, default_s: float) -> float:
    if deadline is None:
        return default_s
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    return min(default_s, (deadline - datetime.now(UTC)).total_seconds())


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    return float(86_400 - (now.hour * 3600 + now.minute * 60 + now.second))
