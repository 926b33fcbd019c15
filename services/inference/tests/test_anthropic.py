"""Claude through the real anthropic SDK against a local server speaking the Messages API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fake_anthropic import Behaviour, fake_anthropic
from pydantic import SecretStr

from verdicts.contracts import InferenceErrorKind, InferenceRequest, Message
from verdicts.inference.app import build_gateway
from verdicts.inference.config import InferenceSettings
from verdicts.inference.domain import GatewayError

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["ship", "skip"]}},
    "required": ["verdict"],
}


@pytest.fixture
async def fake():
    async with fake_anthropic() as fake:
        yield fake


@pytest.fixture
def gateway(fake):
    settings = InferenceSettings(anthropic_base_url=fake.url, anthropic_api_key=SecretStr("sk-test"))
    return build_gateway(settings)


def request(**patch) -> InferenceRequest:
    fields = {
        "route": "claude-sonnet-4",
        "messages": (
            Message(role="system", content="You review AI tools."),
            Message(role="user", content="Review Example Tool."),
        ),
        "json_schema": SCHEMA,
        "max_tokens": 200,
        "caller": "test",
    }
    return InferenceRequest(**(fields | patch))


async def test_tool_use_json_with_cached_system_prompt_and_cost(gateway, fake):
    fake.script = [Behaviour("ok", {"verdict": "ship"})]
    reply = await gateway.generate(request())
    assert reply.answer == {"verdict": "ship"}
    assert reply.backend == "anthropic"
    assert reply.model == "claude-sonnet-4-20250514"
    assert reply.usage.tokens_in == 920
    assert reply.usage.tokens_out == 40
    assert reply.usage.cache_read_tokens == 800
    # 120 fresh input tokens at $3, 800 cache reads at $0.30, 40 output tokens at $15 per MTok.
    assert reply.cost_usd == Decimal("0.0012")
    sent = fake.requests[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}
    assert sent["tools"][0]["input_schema"] == SCHEMA
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert all(m["role"] != "system" for m in sent["messages"])
    assert "sk-test" in (fake.headers[0].get("x-api-key", "") + fake.headers[0].get("authorization", ""))


async def test_prompt_cache_writes_and_reads_are_priced_at_their_own_rates(gateway, fake):
    fake.script = [
        Behaviour("ok", {"verdict": "ship"}, input_tokens=100, cache_write=2000, cache_read=0),
        Behaviour("ok", {"verdict": "ship"}, input_tokens=100, cache_write=0, cache_read=2000),
    ]
    written = await gateway.generate(request())
    read = await gateway.generate(request())
    # Claude Sonnet 4 per MTok: input $3, cache write $3.75, cache read $0.30, output $15.
    assert written.cost_usd == Decimal("0.0084")  # (100*3 + 2000*3.75 + 40*15) / 1e6
    assert read.cost_usd == Decimal("0.0015")  # (100*3 + 2000*0.30 + 40*15) / 1e6
    assert (written.usage.cache_write_tokens, written.usage.cache_read_tokens) == (2000, 0)
    assert (read.usage.cache_write_tokens, read.usage.cache_read_tokens) == (0, 2000)
    assert written.usage.tokens_in == read.usage.tokens_in == 2100
    rows = gateway.ledger.usage[-2:]
    assert [r.cost_usd for r in rows] == [Decimal("0.0084"), Decimal("0.0015")]
    assert [(r.cache_write_tokens, r.cache_read_tokens) for r in rows] == [(2000, 0), (0, 2000)]


async def test_429_is_retried_after_retry_after(gateway, fake):
    fake.script = [Behaviour("rate_limit", retry_after=0.4), Behaviour("ok", {"verdict": "skip"})]
    started = time.monotonic()
    reply = await gateway.generate(request())
    assert reply.answer == {"verdict": "skip"}
    assert time.monotonic() - started >= 0.4
    assert len(fake.requests) == 2


async def test_529_is_overloaded_not_rate_limited(gateway, fake):
    fake.script = [Behaviour("overloaded")] * 4
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.OVERLOADED
    assert err.value.retryable
    assert len(fake.requests) == 4  # max_attempts


async def test_a_spend_limit_429_is_never_retried(gateway, fake):
    fake.script = [Behaviour("spend_limit", retry_after=0.1), Behaviour("ok", {"verdict": "ship"})]
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.BUDGET_EXCEEDED
    assert not err.value.retryable
    assert len(fake.requests) == 1


async def test_500_is_retried_then_succeeds(gateway, fake):
    fake.script = [Behaviour("server_error"), Behaviour("ok", {"verdict": "ship"})]
    assert (await gateway.generate(request())).answer == {"verdict": "ship"}
    assert len(fake.requests) == 2


async def test_a_slow_answer_past_the_deadline_is_a_timeout(gateway, fake):
    fake.script = [Behaviour("slow", {"verdict": "ship"}, delay_s=3)]
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(deadline=datetime.now(UTC) + timedelta(seconds=0.5)))
    assert err.value.kind is InferenceErrorKind.TIMEOUT
    assert time.monotonic() - started < 2


async def test_a_malformed_body_is_an_upstream_error(gateway, fake):
    fake.script = [Behaviour("garbage")] * 4
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.UPSTREAM_ERROR


async def test_an_answer_off_schema_gets_one_repair_then_invalid_output(gateway, fake):
    fake.script = [Behaviour("ok", {"verdict": "maybe"}), Behaviour("ok", {"verdict": "ship"})]
    assert (await gateway.generate(request())).answer == {"verdict": "ship"}
    repair = fake.requests[1]["messages"]
    assert repair[-1]["role"] == "user"
    assert "does not follow the JSON schema" in repair[-1]["content"]

    fake.script = [Behaviour("ok", {"verdict": "maybe"}), Behaviour("text")]
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.INVALID_OUTPUT
    assert len(fake.requests) == 4


async def test_the_circuit_opens_after_repeated_failures(gateway, fake):
    fake.script = [Behaviour("server_error")] * 8
    for _ in range(2):
        with pytest.raises(GatewayError):
            await gateway.generate(request())
    calls = len(fake.requests)
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert "circuit open" in err.value.message
    assert err.value.retry_after_s is not None
    assert len(fake.requests) == calls  # refused without an upstream call


async def test_concurrency_limit_answers_overloaded_at_once(fake):
    settings = InferenceSettings(anthropic_base_url=fake.url, anthropic_api_key=SecretStr("sk-test"))
    gateway = build_gateway(settings)
    route = gateway.routes["claude-sonnet-4"].model_copy(update={"max_concurrency": 1, "max_queue": 0})
    gateway.routes["claude-sonnet-4"] = route
    from verdicts.inference.resilience import BoundedLimiter

    gateway.limiters[route.name] = BoundedLimiter(1, 0)
    fake.script = [Behaviour("slow", {"verdict": "ship"}, delay_s=1)]
    first = asyncio.create_task(gateway.generate(request()))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.OVERLOADED
    assert time.monotonic() - started < 0.1
    assert (await first).answer == {"verdict": "ship"}


async def test_no_api_key_is_a_clear_non_retryable_error(fake):
    gateway = build_gateway(InferenceSettings(anthropic_base_url=fake.url, anthropic_api_key=None))
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert "ANTHROPIC_API_KEY" in err.value.message
    assert not err.value.retryable
    assert fake.requests == []
