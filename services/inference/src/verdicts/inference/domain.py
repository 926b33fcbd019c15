"""inference's rules, pure: routes and prices, limits, answer schemas, budgets, deadlines, errors.

No SQL, no HTTP, no NATS: the gateway (``gateway``) does the I/O and asks these rules what to
do. Everything here can be checked with plain unit tests.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import InferenceError, InferenceErrorKind, InferenceRequest, Message
from verdicts.platform.backoff import monotonic_deadline

# ---------------------------------------------------------------------------------------------
# Errors: typed, mapped one-to-one onto the ``InferenceError`` contract.

RETRYABLE = frozenset(
    {
        InferenceErrorKind.TIMEOUT,
        InferenceErrorKind.RATE_LIMITED,
        InferenceErrorKind.OVERLOADED,
        InferenceErrorKind.UPSTREAM_ERROR,
    }
)
FALLBACK_ON = frozenset(
    {
        InferenceErrorKind.OVERLOADED,
        InferenceErrorKind.UPSTREAM_ERROR,
        InferenceErrorKind.TIMEOUT,
        InferenceErrorKind.RATE_LIMITED,
    }
)


class GatewayError(Exception):
    """Why a request got no answer; ``contract()`` is what goes back to the caller."""

    def __init__(
        self,
        kind: InferenceErrorKind,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        route: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = kind in RETRYABLE if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.route = route

    def contract(self) -> InferenceError:
        return InferenceError(
            kind=self.kind,
            message=self.message,
            retryable=self.retryable,
            retry_after_s=self.retry_after_s,
            route=self.route,
        )


def bad_request(message: str, route: str | None = None) -> GatewayError:
    return GatewayError(InferenceErrorKind.BAD_REQUEST, message, route=route)


def deadline_exceeded(route: str, when: str) -> GatewayError:
    """The caller's deadline passed: refused without sending anything, never worth a retry."""
    return GatewayError(
        InferenceErrorKind.DEADLINE_EXCEEDED, f"{route}: the deadline passed {when}", route=route
    )


def falls_back(error: GatewayError, seconds_left: float) -> bool:
    """Whether a failed route's fallback should get what is left of the same deadline."""
    return error.kind in FALLBACK_ON and seconds_left > 0


def retry_after_hint(exc: BaseException | None) -> float | None:
    """The wait a failed attempt asked for (``retry-after``), if any."""
    return exc.retry_after_s if isinstance(exc, GatewayError) else None


# ---------------------------------------------------------------------------------------------
# Routes: the names reviewers use, each bound to a backend, a model, its limits and prices.

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


# ---------------------------------------------------------------------------------------------
# The job: one request as it travels the gateway, under one deadline.


def job_deadline(received: float, timeout_s: float, requested: float | None) -> float:
    """The job's deadline on the monotonic clock: the caller's, never later than receipt + timeout."""
    latest = received + timeout_s
    return latest if requested is None else min(latest, requested)


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """Everything one request needs, bundled once at receipt.

    ``deadline`` is an instant on the ``time.monotonic()`` clock (the asyncio loop's):
    the caller's deadline, or receipt + the route's timeout when the caller set none,
    never later than that. Retries, the repair call and the fallback all reuse it.
    """

    route: Route
    messages: tuple[Message, ...]
    schema: dict[str, Any] | None
    max_tokens: int
    temperature: float
    seed: int | None
    deadline: float
    caller: str

    @classmethod
    def start(
        cls,
        route: Route,
        messages: tuple[Message, ...] | list[Message],
        *,
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        deadline: datetime | None,
        caller: str,
    ) -> GenerationJob:
        requested = None if deadline is None else monotonic_deadline(deadline)
        return cls(
            route=route,
            messages=tuple(messages),
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            deadline=job_deadline(time.monotonic(), route.timeout_s, requested),
            caller=caller,
        )

    @classmethod
    def from_request(cls, route: Route, request: InferenceRequest) -> GenerationJob:
        return cls.start(
            route,
            request.messages,
            schema=request.json_schema,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            deadline=request.deadline,
            caller=request.caller,
        )

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def on(self, route: Route) -> GenerationJob:
        """The same request, deadline included, on another route (the fallback)."""
        return dataclasses.replace(self, route=route)

    def saying(self, messages: tuple[Message, ...]) -> GenerationJob:
        """The same request with another conversation (the repair call)."""
        return dataclasses.replace(self, messages=messages)


# ---------------------------------------------------------------------------------------------
# Limits: what a route refuses before anything is sent upstream.

CHARS_PER_TOKEN = 3  # conservative: over-counts tokens, so a long prompt is refused early
REPAIR_INSTRUCTION_TOKENS = 64  # the repair call's added instruction, generously


def estimate_tokens(messages: tuple[Message, ...] | list[Message]) -> int:
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + 4 for m in messages)


def check_limits(job: GenerationJob) -> None:
    """A ``bad_request`` unless the schema, messages, ``max_tokens`` and prompt fit the route."""
    route = job.route
    if job.schema is not None:
        check_schema(job.schema)
    if not job.messages:
        raise bad_request("messages must not be empty", route.name)
    if not 1 <= job.max_tokens <= route.max_output_tokens:
        raise bad_request(
            f"max_tokens must be 1..{route.max_output_tokens} on route {route.name}", route.name
        )
    needed = estimate_tokens(job.messages) + job.max_tokens
    if needed > route.context_tokens:
        raise bad_request(
            f"prompt (~{needed - job.max_tokens} tokens) plus max_tokens ({job.max_tokens}) exceeds the "
            f"{route.context_tokens}-token context of route {route.name}",
            route.name,
        )


# ---------------------------------------------------------------------------------------------
# Answer schemas: checked once per distinct schema, answers validated against a cached validator.


def check_schema(schema: dict[str, Any]) -> None:
    """A ``bad_request`` unless ``schema`` is a valid JSON schema describing an object."""
    _validator(_key(schema))


def parse_answer(
    text: str, schema: dict[str, Any], parsed: dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """The answer and ``None``, or ``None`` and why it does not follow the schema.

    ``parsed`` is the answer when the backend returned it structured (tool use), else ``text``
    is read as JSON.
    """
    answer: Any = parsed
    if answer is None:
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, f"not JSON ({exc.msg})"
    errors = sorted(_validator(_key(schema)).iter_errors(answer), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return None, f"{where}: {errors[0].message}"
    if not isinstance(answer, dict):
        return None, "the answer must be a JSON object"
    return answer, None


def repair_prompt(problem: str | None) -> str:
    """What the repair call tells the model about its first answer."""
    return (
        f"That answer does not follow the JSON schema ({problem}). "
        "Reply again with only a JSON object that follows the schema."
    )


def _key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=256)
def _validator(key: str) -> jsonschema.Draft202012Validator:
    # Checking a schema against the metaschema costs far more than one answer's validation:
    # reviewers send a handful of schemas, so do it once per schema.
    schema = json.loads(key)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise bad_request(f"json_schema is not a valid JSON schema: {exc.message}") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise bad_request('json_schema must describe an object ("type": "object")')
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------------------------------------
# Budgets: reserve the most a request can cost before it, settle what it cost after.

CENT_MILLIONTH = Decimal("0.00000001")  # the ledger's numeric(14, 8) precision
SECONDS_PER_DAY = 86_400


def reservable(amount: Decimal) -> Decimal:
    """Rounded up to the ledger's precision, so what is added is exactly what is released."""
    return amount.quantize(CENT_MILLIONTH, rounding=ROUND_CEILING)


def max_request_cost(job: GenerationJob) -> Decimal:
    """The most this request can cost: its call and, with a schema, one repair call.

    The repair call's prompt is the original, the first answer and an instruction.
    """
    prompt = estimate_tokens(job.messages)
    cost = job.route.max_cost(prompt, job.max_tokens)
    if job.schema is not None:
        cost += job.route.max_cost(prompt + job.max_tokens + REPAIR_INSTRUCTION_TOKENS, job.max_tokens)
    return reservable(cost)


def max_route_tokens(job: GenerationJob) -> int:
    """The most tokens this request can use on one route: its call and, with a schema, one repair
    call (prompt estimate, which over-counts, plus ``max_tokens`` out, each)."""
    prompt = estimate_tokens(job.messages)
    tokens = prompt + job.max_tokens
    if job.schema is not None:
        tokens += prompt + job.max_tokens + REPAIR_INSTRUCTION_TOKENS + job.max_tokens
    return tokens


def max_request_tokens(job: GenerationJob, fallback: Route | None) -> int:
    """The most tokens a request can use upstream, held against a key's daily token quota before
    anything is sent: its route's calls and, when it has one, the fallback's (the same job again)."""
    return max_route_tokens(job) * (2 if fallback is not None else 1)


def key_caller(key_id: str) -> str:
    """The usage ledger's caller for an HTTP request: the API key that was let in, never a name the
    request chose for itself (OpenAI's ``user`` is the client's word, not proof of anything)."""
    return f"key:{key_id}"


def fits_budget(spent: Decimal, reserved: Decimal, amount: Decimal, limit: Decimal) -> bool:
    """Whether holding ``amount`` more keeps today's spent + reserved within ``limit``."""
    return spent + reserved + amount <= limit


def budget_exceeded(
    route: Route, amount: Decimal, spent: Decimal, reserved: Decimal, now: datetime
) -> GatewayError:
    """The refusal of a reservation that does not fit, with when to try again."""
    assert route.daily_budget_usd is not None
    spent_out = spent + amount > route.daily_budget_usd
    return GatewayError(
        InferenceErrorKind.BUDGET_EXCEEDED,
        f"{route.name}: daily budget of {route.daily_budget_usd} USD "
        + (f"spent ({spent})" if spent_out else f"held by calls in flight ({reserved} reserved)"),
        retryable=True,
        # Money held by calls in flight comes back in seconds; spent money at midnight (UTC).
        retry_after_s=seconds_to_midnight(now) if spent_out else 1.0,
        route=route.name,
    )


def seconds_to_midnight(now: datetime) -> float:
    """Seconds from ``now`` (UTC) to the next day's budget."""
    return float(SECONDS_PER_DAY - (now.hour * 3600 + now.minute * 60 + now.second))


# ---------------------------------------------------------------------------------------------
# Upstream failures: an HTTP status (and headers, body) as a typed error.

_SPEND_LIMIT_MARKERS = ("usage limit", "spend limit", "spending limit", "credit balance")


def classify_status(
    route: Route, status: int, headers: Any, *, overloaded_status: int, detail: str = ""
) -> GatewayError:
    """An upstream HTTP error as a typed gateway error (429 rate limit, overload, 4xx, 5xx).

    Any other 4xx (e.g. llama.cpp's 400 for a schema its grammar compiler rejects) is
    ``bad_request``: not retried, not repaired, not fallen back from.
    """
    after = retry_after(headers)
    if status == 429:
        return GatewayError(
            InferenceErrorKind.RATE_LIMITED, f"{route.name}: rate limited", retry_after_s=after
        )
    if status == overloaded_status:
        return GatewayError(
            InferenceErrorKind.OVERLOADED, f"{route.name}: upstream overloaded", retry_after_s=after
        )
    if 400 <= status < 500:
        why = f": {detail}" if detail else ""
        return GatewayError(
            InferenceErrorKind.BAD_REQUEST, f"{route.name}: upstream refused the request ({status}){why}"
        )
    return GatewayError(
        InferenceErrorKind.UPSTREAM_ERROR, f"{route.name}: upstream error {status}", retry_after_s=after
    )


def spend_limit_reached(route: Route, status: int, message: str) -> GatewayError | None:
    """Anthropic's spend-limit 429 as ``budget_exceeded``, never retried; ``None`` for any other."""
    if status == 429 and any(marker in message.lower() for marker in _SPEND_LIMIT_MARKERS):
        return GatewayError(
            InferenceErrorKind.BUDGET_EXCEEDED,
            f"{route.name}: Anthropic spend limit reached",
            retryable=False,
        )
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``retry-after`` header (seconds form), if any."""
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_detail(body: object, limit: int = 300) -> str:
    """The upstream's own error message from a JSON error body, shortened."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        return str(message or "")[:limit]
    return str(body or "")[:limit]
