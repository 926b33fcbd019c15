"""inference's pure rules: schemas and answers, limits, prices, budgets, deadlines, upstream errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from verdicts.contracts import InferenceErrorKind, Message
from verdicts.inference.config import InferenceSettings
from verdicts.inference.domain import (
    BackendKind,
    Dialect,
    GatewayError,
    GenerationJob,
    Route,
    budget_exceeded,
    check_limits,
    check_schema,
    classify_status,
    error_detail,
    estimate_tokens,
    falls_back,
    fits_budget,
    job_deadline,
    key_caller,
    max_request_cost,
    max_request_tokens,
    parse_answer,
    reservable,
    retry_after,
    seconds_to_midnight,
    spend_limit_reached,
)
from verdicts.inference.model_routes import default_routes

pytestmark = pytest.mark.unit

SCHEMA = {"type": "object", "properties": {"v": {"enum": ["ship", "skip"]}}, "required": ["v"]}
ROUTE = Route(
    name="r",
    backend=BackendKind.OPENAI,
    model="m",
    dialect=Dialect.JSON_SCHEMA,
    context_tokens=256,
    max_output_tokens=64,
    price_in_per_mtok=Decimal(1),
    price_out_per_mtok=Decimal(2),
    daily_budget_usd=Decimal(1),
)


def job(content: str = "Ship or skip?", **patch: Any) -> GenerationJob:
    fields: dict[str, Any] = {
        "schema": SCHEMA,
        "max_tokens": 16,
        "temperature": 0.0,
        "seed": None,
        "deadline": None,
        "caller": "test",
    }
    return GenerationJob.start(ROUTE, [Message(role="user", content=content)], **(fields | patch))


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
    answer, problem = parse_answer(text, SCHEMA)
    assert (answer is not None) is ok
    assert (problem is None) is ok


def test_a_structured_answer_is_checked_as_it_is():
    assert parse_answer("not json", SCHEMA, parsed={"v": "skip"}) == ({"v": "skip"}, None)
    answer, problem = parse_answer("", SCHEMA, parsed={"v": "maybe"})
    assert answer is None
    assert problem is not None
    assert problem.startswith("v: ")


def test_token_estimate_over_counts():
    text = "hello world " * 100
    assert estimate_tokens([Message(role="user", content=text)]) >= len(text.split())


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"max_tokens": 65}, "max_tokens must be 1..64 on route r"),
        ({"max_tokens": 0}, "max_tokens must be 1..64"),
        ({"content": "word " * 300}, "exceeds the 256-token context of route r"),
        ({"schema": {"type": "array"}}, "must describe an object"),
    ],
    ids=["max_tokens over", "max_tokens zero", "prompt over the context", "non-object schema"],
)
def test_limits_refuse_before_anything_is_sent(patch, words):
    with pytest.raises(GatewayError) as err:
        check_limits(job(**patch))
    assert err.value.kind is InferenceErrorKind.BAD_REQUEST
    assert not err.value.retryable
    assert words in err.value.message


def test_a_request_within_the_limits_passes():
    check_limits(job())
    check_limits(job(schema=None))


def test_costs_come_from_route_prices():
    routes = default_routes(InferenceSettings())
    claude = routes["claude-sonnet-4"]
    assert claude.cost(1_000_000, 1_000_000) == Decimal(18)
    # Of 1M input tokens, 400k were cache reads ($0.30) and 100k cache writes ($3.75).
    assert claude.cost(1_000_000, 0, cache_read=400_000, cache_write=100_000) == Decimal("1.995")
    # The most a call can cost: every prompt token at the dearest input rate.
    assert claude.max_cost(1_000_000, 1_000_000) == Decimal("18.75")
    assert routes["local"].cost(10_000, 10_000) == 0
    assert not routes["local"].priced
    assert routes["smollm3"].fallback == "local"


def test_the_most_a_request_can_cost_counts_one_repair_call():
    prompt = estimate_tokens([Message(role="user", content="Ship or skip?")])
    call = (prompt * 1 + 16 * 2) / Decimal(1_000_000)
    repair = ((prompt + 16 + 64) * 1 + 16 * 2) / Decimal(1_000_000)
    assert max_request_cost(job(schema=None)) == reservable(call)
    assert max_request_cost(job()) == reservable(call + repair)


def test_the_most_tokens_a_request_can_use_counts_the_repair_and_the_fallback():
    prompt = estimate_tokens([Message(role="user", content="Ship or skip?")])
    call = prompt + 16
    repair = prompt + 16 + 64 + 16  # the first answer and the instruction join the prompt
    assert max_request_tokens(job(schema=None), None) == call
    assert max_request_tokens(job(), None) == call + repair
    # A fallback runs the same job again on another route.
    assert max_request_tokens(job(), ROUTE) == 2 * (call + repair)


def test_an_http_requests_ledger_caller_is_its_key():
    assert key_caller("abcdefghij") == "key:abcdefghij"


def test_reservations_round_up_to_the_ledgers_precision():
    assert reservable(Decimal("0.000000001")) == Decimal("0.00000001")
    assert reservable(Decimal("0.00000002")) == Decimal("0.00000002")


def test_a_reservation_fits_up_to_the_limit_exactly():
    assert fits_budget(Decimal("0.5"), Decimal("0.25"), Decimal("0.25"), Decimal(1))
    assert not fits_budget(Decimal("0.5"), Decimal("0.25"), Decimal("0.26"), Decimal(1))


def test_a_spent_budget_waits_for_midnight_and_a_held_one_for_a_second():
    now = datetime(2025, 5, 1, 23, 59, 0, tzinfo=UTC)
    spent = budget_exceeded(ROUTE, Decimal("0.1"), Decimal("0.95"), Decimal(0), now)
    assert spent.kind is InferenceErrorKind.BUDGET_EXCEEDED
    assert spent.retryable
    assert spent.retry_after_s == 60.0
    assert "spent (0.95)" in spent.message
    held = budget_exceeded(ROUTE, Decimal("0.1"), Decimal("0.5"), Decimal("0.45"), now)
    assert held.retry_after_s == 1.0
    assert "held by calls in flight (0.45 reserved)" in held.message
    assert seconds_to_midnight(datetime(2025, 5, 1, 0, 0, 0, tzinfo=UTC)) == 86_400


def test_a_deadline_is_the_callers_but_never_past_the_routes_timeout():
    assert job_deadline(100.0, 120.0, None) == 220.0
    assert job_deadline(100.0, 120.0, 150.0) == 150.0
    assert job_deadline(100.0, 120.0, 500.0) == 220.0


def test_fallback_only_for_upstream_trouble_with_time_left():
    overloaded = GatewayError(InferenceErrorKind.OVERLOADED, "busy")
    assert falls_back(overloaded, 1.0)
    assert not falls_back(overloaded, 0.0)
    assert not falls_back(GatewayError(InferenceErrorKind.BAD_REQUEST, "no"), 1.0)
    assert not falls_back(GatewayError(InferenceErrorKind.BUDGET_EXCEEDED, "no"), 1.0)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, InferenceErrorKind.RATE_LIMITED, True),
        (503, InferenceErrorKind.OVERLOADED, True),
        (400, InferenceErrorKind.BAD_REQUEST, False),
        (404, InferenceErrorKind.BAD_REQUEST, False),
        (500, InferenceErrorKind.UPSTREAM_ERROR, True),
    ],
)
def test_upstream_statuses_are_classified(status, kind, retryable):
    error = classify_status(ROUTE, status, {"retry-after": "7"}, overloaded_status=503, detail="why")
    assert error.kind is kind
    assert error.retryable is retryable
    if kind is not InferenceErrorKind.BAD_REQUEST:
        assert error.retry_after_s == 7.0
    else:
        assert error.message.endswith(f"({status}): why")


def test_anthropics_spend_limit_is_never_retried():
    refused = spend_limit_reached(ROUTE, 429, "You have reached your Spend Limit")
    assert refused is not None
    assert refused.kind is InferenceErrorKind.BUDGET_EXCEEDED
    assert not refused.retryable
    assert spend_limit_reached(ROUTE, 429, "rate limited") is None
    assert spend_limit_reached(ROUTE, 400, "spend limit") is None


def test_retry_after_and_error_detail_read_what_they_can():
    assert retry_after({"retry-after": "2.5"}) == 2.5
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after(None) is None
    assert error_detail({"error": {"message": "bad grammar"}}) == "bad grammar"
    assert error_detail({"error": "plain"}) == "plain"
    assert error_detail("x" * 500, limit=10) == "x" * 10
