"""Daily budgets against the real PostgreSQL ledger: reserved before a paid call, settled after."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from fake_anthropic import Behaviour, fake_anthropic
from pydantic import SecretStr

from verdicts.contracts import InferenceErrorKind, InferenceReply, InferenceRequest, Message
from verdicts.inference.app import build_gateway
from verdicts.inference.config import InferenceSettings
from verdicts.inference.domain import GatewayError, GenerationJob, max_request_cost
from verdicts.inference.store import PostgresLedger
from verdicts.platform.db import create_pool, migrate

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parents[1] / "src" / "verdicts" / "inference" / "migrations"
SCHEMA = {"type": "object", "properties": {"verdict": {"enum": ["ship", "skip"]}}, "required": ["verdict"]}
CALL_COST = Decimal("0.0012")  # the fake's usage: 120 input, 800 cache reads, 40 output tokens
BUDGET = Decimal("0.01")


@pytest.fixture(scope="module")
async def pool(database_url):
    pool = await create_pool(database_url, max_size=10)
    await migrate(pool, "inference", MIGRATIONS)
    yield pool
    await pool.close()


def request(caller: str) -> InferenceRequest:
    return InferenceRequest(
        route="claude-sonnet-4",
        messages=(Message(role="user", content="Review Example Tool."),),
        json_schema=SCHEMA,
        max_tokens=40,
        caller=caller,
    )


async def test_fifty_concurrent_calls_cannot_overspend_a_daily_budget(pool):
    async with fake_anthropic() as fake:
        gateway = build_gateway(
            InferenceSettings(anthropic_base_url=fake.url, anthropic_api_key=SecretStr("sk-test"))
        )
        route = gateway.routes["claude-sonnet-4"].model_copy(
            update={"daily_budget_usd": BUDGET, "max_queue": 64}
        )
        gateway.routes[route.name] = route
        gateway.ledger = PostgresLedger(pool)
        # Slow answers: every call reserves while the others are still in flight.
        fake.script = [Behaviour("slow", {"verdict": "ship"}, delay_s=0.3) for _ in range(50)]
        results = await asyncio.gather(
            *(gateway.generate(request("budget-test")) for _ in range(50)), return_exceptions=True
        )
        # Written before each reply went out: no waiting for a background write.
        rows = await pool.fetch("SELECT cost_usd, outcome FROM inference.usage WHERE caller = 'budget-test'")
        day = await pool.fetchrow("SELECT reserved_usd, spent_usd FROM inference.budget_days")

    answered = [r for r in results if isinstance(r, InferenceReply)]
    refused = [r for r in results if not isinstance(r, InferenceReply)]
    assert all(isinstance(r, GatewayError) for r in refused), refused
    assert {r.kind for r in refused if isinstance(r, GatewayError)} == {InferenceErrorKind.BUDGET_EXCEEDED}
    assert all(r.cost_usd == CALL_COST for r in answered)
    held = max_request_cost(GenerationJob.from_request(route, request("x")))
    assert len(answered) == BUDGET // held  # all that fit while every reservation was held
    assert len(fake.requests) == len(answered)  # a refused call never reached the upstream
    assert day["spent_usd"] == CALL_COST * len(answered) <= BUDGET + CALL_COST
    assert day["reserved_usd"] == 0  # every reservation settled
    assert sorted(r["cost_usd"] for r in rows) == [CALL_COST] * len(answered)
    assert {r["outcome"] for r in rows} == {"ok"}


async def test_spent_money_refuses_until_midnight(pool):
    async with fake_anthropic() as fake:
        gateway = build_gateway(
            InferenceSettings(anthropic_base_url=fake.url, anthropic_api_key=SecretStr("sk-test"))
        )
        route = gateway.routes["claude-sonnet-4"].model_copy(
            update={"name": "claude-small", "daily_budget_usd": Decimal("0.0025")}
        )
        gateway.routes[route.name] = route
        gateway.limiters[route.name] = gateway.limiters["claude-sonnet-4"]
        gateway.breakers[route.name] = gateway.breakers["claude-sonnet-4"]
        gateway.ledger = PostgresLedger(pool)
        small = request("midnight").model_copy(update={"route": "claude-small"})
        await gateway.generate(small)  # 0.0012 spent; 0.0013 left, less than one reservation
        with pytest.raises(GatewayError) as err:
            await gateway.generate(small)
    assert err.value.kind is InferenceErrorKind.BUDGET_EXCEEDED
    assert "spent" in err.value.message
    assert err.value.retry_after_s is not None
    assert err.value.retry_after_s > 1
    assert len(fake.requests) == 1
