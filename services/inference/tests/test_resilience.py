"""Per-route resilience: the bounded queue and the circuit breaker."""

from __future__ import annotations

import asyncio
import time

import pytest

from verdicts.contracts import InferenceErrorKind
from verdicts.inference.domain import GatewayError
from verdicts.inference.resilience import BoundedLimiter, BreakerState, CircuitBreaker

pytestmark = pytest.mark.unit


async def test_limiter_refuses_beyond_its_queue():
    limiter = BoundedLimiter(concurrency=1, max_queue=1)
    async with limiter.slot("r"):
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
