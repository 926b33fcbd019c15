"""One deadline per request: queued, retried or fallen back, nothing is sent upstream after it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Step, fake_openai
from route_testing import small_route

from verdicts.contracts import InferenceErrorKind, InferenceRequest, Message
from verdicts.inference.backends.openai_compatible import OpenAICompatibleBackend
from verdicts.inference.domain import BackendKind, GatewayError
from verdicts.inference.gateway import Gateway
from verdicts.inference.ledger import InMemoryLedger
from verdicts.platform.testing.plugin import eventually

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "properties": {"v": {"enum": ["ship", "skip"]}}, "required": ["v"]}
ANSWER = {"v": "ship"}


@pytest.fixture
async def fake():
    async with fake_openai(ANSWER) as fake:
        yield fake


def make_gateway(fake: FakeOpenAI, **route: Any) -> Gateway:
    primary = small_route(base_url=fake.url, daily_budget_usd=Decimal(1), **route)
    spare = primary.model_copy(update={"name": "spare", "fallback": None})
    return Gateway(
        {"r": primary, "spare": spare},
        {BackendKind.OPENAI.value: OpenAICompatibleBackend()},
        ledger=InMemoryLedger(),
    )


def request(deadline_s: float | None = 10, **patch: Any) -> InferenceRequest:
    fields: dict[str, Any] = {
        "route": "r",
        "messages": (Message(role="user", content="Ship or skip?"),),
        "json_schema": SCHEMA,
        "max_tokens": 16,
        "caller": "test",
        "deadline": None if deadline_s is None else datetime.now(UTC) + timedelta(seconds=deadline_s),
    }
    return InferenceRequest(**(fields | patch))


def nothing_charged(gateway: Gateway) -> bool:
    ledger = gateway.ledger
    assert isinstance(ledger, InMemoryLedger)
    return not ledger.usage and all(reserved == spent == 0 for reserved, spent in ledger.days.values())


async def test_a_deadline_that_passes_in_the_queue_never_reaches_the_upstream(fake):
    gateway = make_gateway(fake, max_concurrency=1)
    fake.script = [Step("hold")]
    first = asyncio.create_task(gateway.generate(request()))
    await eventually(lambda: len(fake.requests) == 1)
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline_s=0.3))
    waited = time.monotonic() - started
    assert err.value.kind is InferenceErrorKind.DEADLINE_EXCEEDED
    assert not err.value.retryable
    assert "queued" in err.value.message
    assert 0.25 <= waited < 1.0  # answered when its deadline passed, not when the slot freed
    assert gateway.limiters["r"].waiting == 0
    fake.release.set()
    assert (await first).answer == ANSWER
    assert len(fake.requests) == 1


async def test_a_caller_whose_deadline_falls_inside_the_retry_after_is_not_retried(fake):
    gateway = make_gateway(fake)
    fake.script = [Step("overloaded", retry_after=5)]
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline_s=1))
    assert err.value.kind is InferenceErrorKind.OVERLOADED
    assert err.value.retry_after_s == 5
    assert time.monotonic() - started < 0.5  # gave up at once rather than sleeping to no purpose
    assert len(fake.requests) == 1


async def test_a_retry_after_inside_the_deadline_is_honoured(fake):
    gateway = make_gateway(fake)
    fake.script = [Step("overloaded", retry_after=0.2)]
    started = time.monotonic()
    assert (await gateway.generate(request(deadline_s=5))).answer == ANSWER
    assert time.monotonic() - started >= 0.2
    assert len(fake.requests) == 2


async def test_a_deadline_already_past_is_refused_with_nothing_sent_or_charged(fake):
    gateway = make_gateway(fake)
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline_s=-1))
    assert err.value.kind is InferenceErrorKind.DEADLINE_EXCEEDED
    assert not err.value.retryable
    assert fake.requests == []
    assert nothing_charged(gateway)


async def test_the_fallback_shares_the_deadline(fake):
    gateway = make_gateway(fake, max_attempts=1, fallback="spare")
    fake.script = [Step("overloaded"), Step("hold")]  # the primary refuses; the fallback hangs
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline_s=0.6))
    assert err.value.kind is InferenceErrorKind.TIMEOUT
    assert err.value.route == "spare"
    assert time.monotonic() - started < 1.2  # not 0.6 s for the primary plus 0.6 s more
    assert len(fake.requests) == 2


async def test_without_a_deadline_the_gateway_sets_receipt_plus_route_timeout(fake):
    gateway = make_gateway(fake, timeout_s=0.4)
    fake.script = [Step("hold")]
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline_s=None))
    assert err.value.kind is InferenceErrorKind.TIMEOUT
    assert 0.35 <= time.monotonic() - started < 1.0
