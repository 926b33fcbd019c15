"""Pure rules of the gateway: schemas, answers, limits, circuit, cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from verdicts.contracts import InferenceErrorKind, Message
from verdicts.inference.backends import Completion
from verdicts.inference.config import InferenceSettings
from verdicts.inference.errors import GatewayError
from verdicts.inference.gateway import estimate_tokens
from verdicts.inference.resilience import BoundedLimiter, BreakerState, CircuitBreaker
from verdicts.inference.routes import default_routes
from verdicts.inference.schemas import check_schema, parse_answer

pytestmark = pytest.mark.unit

SCHEMA = {"type": "object", "properties": {"v": {"enum": ["ship", "skip"]}}, "required": ["v"]}


def completion(text: str) -> Completion:
    return Completion(text=text, parsed=None, tokens_in=1, tokens_out=1, finish_reason="stop", model="m")


@pytest.mark.parametrize(
    "schema", [{"type": "objekt"}, {"type": "array"}, {"type": "object", "required": "v"}]
)
def test_invalid_or_non_object_schemas_are_bad_requests(schema):
    with pytest.raises(GatewayError) as err:
        check_schema(schema)
    assert err.value.kind is InferenceErrorKind.BAD_REQUEST


@pytest.mark.parametrize(
    ("text", "ok"),
    [('{"v": "ship"}', True), ('{"v": "maybe"}', False), ("ship", False), ('{"w": 1}', False), ("[]", False)],
)
def test_answers_are_checked_against_the_schema(text, ok):
    answer, problem = parse_answer(completion(text), SCHEMA)
    assert (answer is not None) is ok
    assert (problem is None) is ok


def test_token_estimate_over_counts():
    text = "hello world " * 100
    assert estimate_tokens([Message(role="user", content=text)]) >= len(text.split())


async def test_limiter_refuses_beyond_its_queue():
    limiter = BoundedLimiter(concurrency=1, max_queue=1)
    async with limiter.slot("r"):
        import asyncio

        waiter = asyncio.create_task(limiter.slot("r").__aenter__())
        await asyncio.sleep(0)
        assert limiter.waiting == 1
        with pytest.raises(GatewayError) as err:
            async with limiter.slot("r"):
                pass
        assert err.value.kind is InferenceErrorKind.OVERLOADED
        waiter.cancel()


def test_breaker_opens_half_opens_and_closes():
    breaker = CircuitBreaker(threshold=2, cooldown_s=0.0)
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.HALF_OPEN  # cooldown 0: straight to a trial
    breaker.check("r")  # the one trial call
    with pytest.raises(GatewayError):
        breaker.check("r")  # a second caller waits for the trial's outcome
    breaker.success()
    assert breaker.state is BreakerState.CLOSED


async def test_a_waiter_leaves_the_queue_when_its_deadline_passes():
    import asyncio
    import time

    limiter = BoundedLimiter(concurrency=1, max_queue=4)
    async with limiter.slot("r"):
        started = time.monotonic()
        with pytest.raises(GatewayError) as err:
            async with limiter.slot("r", deadline=time.monotonic() + 0.1):
                pass
        assert err.value.kind is InferenceErrorKind.DEADLINE_EXCEEDED
        assert 0.09 <= time.monotonic() - started < 0.5
        assert limiter.waiting == 0
    async with asyncio.timeout(1), limiter.slot("r", deadline=time.monotonic() + 0.1):
        assert limiter.running == 1  # the slot was not leaked


def test_costs_come_from_route_prices():
    routes = default_routes(InferenceSettings())
    claude = routes["claude-sonnet-4"]
    assert claude.cost(1_000_000, 1_000_000) == Decimal(18)
    # Of 1M input tokens, 400k were cache reads ($0.30) and 100k cache writes ($3.75).
    assert claude.cost(1_000_000, 0, cache_read=400_000, cache_write=100_000) == Decimal("1.995")
    # The most a call can cost: every prompt token at the dearest input rate.
    assert claude.max_cost(1_000_000, 1_000_000) == Decimal("18.75")
    assert routes["local"].cost(10_000, 10_000) == 0
    assert routes["smollm3"].fallback == "local"
