"""The gateway: one request in, a schema-valid answer (or a typed error) out, on any route.

One pipeline over one ``GenerationJob``, inside the caller's one deadline:

    validate → deadline → reserve budget → breaker → limiter slot → attempts with backoff
    → parse, repair once → settle + ledger row → reply

and the fallback route runs the same pipeline on the same job (same deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from tenacity import AsyncRetrying, retry_if_exception

from verdicts.contracts import InferenceErrorKind, InferenceReply, InferenceRequest, Message, Role
from verdicts.contracts.inference import Usage
from verdicts.inference.backends import Backend, Completion
from verdicts.inference.domain import (
    GatewayError,
    GenerationJob,
    Route,
    bad_request,
    budget_exceeded,
    check_limits,
    deadline_exceeded,
    falls_back,
    max_request_cost,
    parse_answer,
    repair_prompt,
    retry_after_hint,
)
from verdicts.inference.ledger import BudgetRefused, InMemoryLedger, Ledger, Reservation, UsageRecord
from verdicts.inference.metrics import GatewayMetrics
from verdicts.inference.resilience import BoundedLimiter, CircuitBreaker
from verdicts.platform.backoff import Backoff

log = logging.getLogger(__name__)

UPSTREAM_BACKOFF = Backoff(first_s=0.25, cap_s=8.0)
tracer = trace.get_tracer(__name__)

# OpenTelemetry GenAI semantic conventions (model-call spans); gen_ai.system is the older name of
# gen_ai.provider.name, set too for back ends that read only it.
ERROR_TYPE = "error.type"


@contextlib.contextmanager
def model_span(job: GenerationJob) -> Iterator[trace.Span]:
    """A CLIENT span per upstream call, ``chat <model>``, with the GenAI request attributes."""
    route = job.route
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": route.backend.value,
        "gen_ai.system": route.backend.value,
        "gen_ai.request.model": route.model,
        "gen_ai.request.max_tokens": job.max_tokens,
        "gen_ai.request.temperature": job.temperature,
        "gen_ai.output.type": "json" if job.schema is not None else "text",
        "verdicts.inference.route": route.name,
    }
    if job.seed is not None:
        attributes["gen_ai.request.seed"] = job.seed
    with tracer.start_as_current_span(
        f"chat {route.model}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_completion(span: trace.Span, completion: Completion) -> None:
    span.set_attributes(
        {
            "gen_ai.response.model": completion.model,
            "gen_ai.usage.input_tokens": completion.tokens_in,
            "gen_ai.usage.output_tokens": completion.tokens_out,
            "gen_ai.response.finish_reasons": [completion.finish_reason],
        }
    )


@dataclass(slots=True)
class TokenMeter:
    """Tokens the upstreams counted for one request, on every route it tried (retries, repair and
    fallback included): what a per-key token quota is settled at, on success and on failure."""

    tokens: int = 0


@dataclass(slots=True)
class Tally:
    """The completions one request paid for on one route (first call, repair)."""

    completions: list[Completion] = field(default_factory=list)
    meter: TokenMeter | None = None

    def add(self, completion: Completion) -> None:
        self.completions.append(completion)
        if self.meter is not None:
            self.meter.tokens += completion.tokens_in + completion.tokens_out

    def usage(self) -> Usage:
        return Usage(
            tokens_in=sum(c.tokens_in for c in self.completions),
            tokens_out=sum(c.tokens_out for c in self.completions),
            cache_read_tokens=sum(c.cache_read_tokens for c in self.completions),
            cache_write_tokens=sum(c.cache_write_tokens for c in self.completions),
        )

    def cost(self, route: Route) -> Decimal:
        return sum((c.cost(route) for c in self.completions), Decimal(0))


class Gateway:
    """The pipeline over every route: its limiters, breakers, backends, ledger and metrics."""

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
        self.ledger: Ledger = ledger or InMemoryLedger()
        self.metrics = metrics or GatewayMetrics()
        self.sleep = sleep
        self.limiters = {r.name: BoundedLimiter(r.max_concurrency, r.max_queue) for r in routes.values()}
        self.breakers = {
            r.name: CircuitBreaker(r.breaker_threshold, r.breaker_cooldown_s) for r in routes.values()
        }

    def route(self, name: str) -> Route:
        route = self.routes.get(name)
        if route is None:
            raise bad_request(f"unknown route {name!r}; known: {', '.join(sorted(self.routes))}")
        return route

    async def health(self, route: Route) -> str:
        """``ok`` (or ``configured``) when the route's backend can serve it, else a short reason."""
        return await self.backends[route.backend.value].health(route)

    async def generate(self, request: InferenceRequest) -> InferenceReply:
        """Schema-following generation for a bus request; raises ``GatewayError``."""
        return await self.run(GenerationJob.from_request(self.route(request.route), request))

    def fallback_of(self, route: Route) -> Route | None:
        return self.routes.get(route.fallback or "")

    async def run(self, job: GenerationJob, *, meter: TokenMeter | None = None) -> InferenceReply:
        """The job on its route, then on the route's fallback if that failure calls for one.

        ``meter`` counts the tokens every upstream call used, whatever the outcome."""
        try:
            return await self._on_route(job, meter)
        except GatewayError as exc:
            fallback = self.fallback_of(job.route)
            # A fallback gets what is left of the same deadline, never a fresh one.
            if fallback is None or not falls_back(exc, job.seconds_left()):
                raise
            log.warning(
                "falling back", extra={"route": job.route.name, "to": fallback.name, "error": exc.message}
            )
            reply = await self._on_route(job.on(fallback), meter)
            return reply.model_copy(update={"fallback_from": job.route.name})

    async def _on_route(self, job: GenerationJob, meter: TokenMeter | None) -> InferenceReply:
        route = job.route
        # Refusals first: nothing sent upstream, nothing charged, no ledger row.
        check_limits(job)
        if job.seconds_left() <= 0:
            raise deadline_exceeded(route.name, "before the request arrived")
        reservation = await self._reserve(job)
        started = time.perf_counter()
        tally = Tally(meter=meter)
        outcome = "error"
        try:
            self.breakers[route.name].check(route.name)
            limiter = self.limiters[route.name]
            async with limiter.slot(route.name, deadline=job.deadline):
                self.metrics.queue_depth.labels(route.name).set(limiter.waiting)
                answer, completion = await self._answer(job, tally)
            outcome = "ok"
        except GatewayError as exc:
            outcome = exc.kind.value
            exc.route = exc.route or route.name
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            await self._settle(job, reservation, tally, outcome, latency_ms)
        usage = tally.usage()
        return InferenceReply(
            answer=answer,
            raw_text=completion.text,
            route=route.name,
            backend=self.backends[route.backend.value].name,
            model=completion.model,
            usage=usage,
            cost_usd=tally.cost(route),
            latency_ms=latency_ms,
            finish_reason=completion.finish_reason,
        )

    async def _reserve(self, job: GenerationJob) -> Reservation | None:
        """Hold the request's maximum cost against the route's daily budget, if it has one."""
        route = job.route
        if route.daily_budget_usd is None:
            return None
        amount = max_request_cost(job)
        try:
            return await self.ledger.reserve(route.name, amount, route.daily_budget_usd)
        except BudgetRefused as refused:
            raise budget_exceeded(route, amount, refused.spent, refused.reserved, datetime.now(UTC)) from None
        except Exception as exc:  # the ledger is down: no spending we cannot account for
            log.error("budget ledger unavailable", extra={"route": route.name, "error": repr(exc)})
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR,
                f"{route.name}: the budget ledger is unavailable",
                retry_after_s=1.0,
                route=route.name,
            ) from None

    async def _answer(self, job: GenerationJob, tally: Tally) -> tuple[dict[str, Any], Completion]:
        """The schema-valid answer: one call, and one repair call when the first misses the schema."""
        completion = await self._attempts(job, tally)
        if job.schema is None:
            return {"text": completion.text}, completion
        answer, problem = parse_answer(completion.text, job.schema, completion.parsed)
        if answer is not None:
            return answer, completion
        # Show the model its answer and what is wrong with it.
        repair = job.saying(
            (
                *job.messages,
                Message(role=Role.ASSISTANT, content=completion.text or "(empty)"),
                Message(role=Role.USER, content=repair_prompt(problem)),
            )
        )
        completion = await self._attempts(repair, tally)
        answer, problem = parse_answer(completion.text, job.schema, completion.parsed)
        if answer is None:
            raise GatewayError(
                InferenceErrorKind.INVALID_OUTPUT,
                f"{job.route.name}: no schema-valid answer after a repair attempt: {problem}",
                route=job.route.name,
            )
        return answer, completion

    async def _attempts(self, job: GenerationJob, tally: Tally) -> Completion:
        """Retry retryable upstream errors with backoff, honouring retry-after; never past the deadline."""
        retrying = AsyncRetrying(
            stop=UPSTREAM_BACKOFF.stop_before(job.deadline, attempts=job.route.max_attempts),
            wait=UPSTREAM_BACKOFF.wait(retry_after=retry_after_hint),
            retry=retry_if_exception(lambda e: isinstance(e, GatewayError) and e.retryable),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                completion = await self._call_upstream(job)
                tally.add(completion)
                return completion
        raise AssertionError("unreachable")

    async def _call_upstream(self, job: GenerationJob) -> Completion:
        left = job.seconds_left()
        if left <= 0:
            raise deadline_exceeded(job.route.name, "before the upstream call")
        breaker = self.breakers[job.route.name]
        backend = self.backends[job.route.backend.value]
        with model_span(job) as span:
            try:
                completion = await asyncio.wait_for(backend.complete(job), timeout=left)
            except TimeoutError:
                breaker.failure()
                span.set_attribute(ERROR_TYPE, InferenceErrorKind.TIMEOUT.value)
                raise GatewayError(
                    InferenceErrorKind.TIMEOUT,
                    f"{job.route.name}: no answer from upstream before the deadline",
                    route=job.route.name,
                ) from None
            except GatewayError as exc:
                span.set_attribute(ERROR_TYPE, exc.kind.value)
                if exc.kind in (InferenceErrorKind.UPSTREAM_ERROR, InferenceErrorKind.TIMEOUT):
                    breaker.failure()
                raise
            record_completion(span, completion)
        breaker.success()
        return completion

    async def _settle(
        self,
        job: GenerationJob,
        reservation: Reservation | None,
        tally: Tally,
        outcome: str,
        latency_ms: float,
    ) -> None:
        """Release the reservation, charge what was used, write the usage row: before the reply."""
        route = job.route
        usage = tally.usage()
        self.metrics.observe(
            route.name, outcome, usage.tokens_in, usage.tokens_out, latency_ms / 1000, tally.cost(route)
        )
        self.metrics.queue_depth.labels(route.name).set(self.limiters[route.name].waiting)
        record = None
        if tally.completions:
            record = UsageRecord(
                route=route.name,
                backend=self.backends[route.backend.value].name,
                model=tally.completions[-1].model,
                caller=job.caller,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cost_usd=tally.cost(route),
                latency_ms=latency_ms,
                outcome=outcome,
            )
        if record is None and reservation is None:
            return
        try:
            # Shielded: a cancelled request still releases its reservation and records its cost.
            await asyncio.shield(self.ledger.settle(reservation, record))
        except Exception as exc:
            # The answer was paid for; losing it over a ledger write would waste that.
            log.error("usage ledger write failed", extra={"route": route.name, "error": repr(exc)})
