"""Bad input is refused with a clear kind: nothing sent upstream (or, when only the upstream can
tell, sent once and never retried or repaired), nothing charged."""

from __future__ import annotations

from typing import Any

import pytest
from fake_openai import Step, fake_openai
from test_deadlines import ANSWER, make_gateway, nothing_charged, request

from verdicts.contracts import InferenceErrorKind, Message
from verdicts.inference.domain import GatewayError

pytestmark = pytest.mark.integration


@pytest.fixture
async def fake():
    async with fake_openai(ANSWER) as fake:
        yield fake


REFUSED: dict[str, tuple[dict[str, Any], InferenceErrorKind, str]] = {
    "unknown route": ({"route": "nope"}, InferenceErrorKind.BAD_REQUEST, "unknown route"),
    "max_tokens over the route's limit": (
        {"max_tokens": 65},
        InferenceErrorKind.BAD_REQUEST,
        "max_tokens must be 1..64",
    ),
    "invalid schema": (
        {"json_schema": {"type": "object", "properties": {"v": {"type": "strin"}}}},
        InferenceErrorKind.BAD_REQUEST,
        "not a valid JSON schema",
    ),
    "non-object schema": ({"json_schema": {"type": "array"}}, InferenceErrorKind.BAD_REQUEST, "object"),
    "prompt over the context": (
        {"messages": (Message(role="user", content="word " * 3000),)},
        InferenceErrorKind.BAD_REQUEST,
        "context",
    ),
    "deadline in the past": ({"deadline_s": -0.001}, InferenceErrorKind.DEADLINE_EXCEEDED, "deadline"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
async def test_refused_before_any_upstream_call(fake, case):
    patch, kind, words = REFUSED[case]
    gateway = make_gateway(fake)
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request(**patch))
    assert err.value.kind is kind
    assert not err.value.retryable
    assert words in err.value.message
    assert fake.requests == []
    assert nothing_charged(gateway)


async def test_a_schema_the_upstream_cannot_compile_is_not_retried_repaired_or_charged(fake):
    gateway = make_gateway(fake, fallback="spare")
    fake.script = [Step("bad_schema")]
    with pytest.raises(GatewayError) as err:
        await gateway.generate(request())
    assert err.value.kind is InferenceErrorKind.BAD_REQUEST
    assert not err.value.retryable
    assert "bad grammar" in err.value.message  # the upstream's own words
    assert len(fake.requests) == 1  # no retry, no repair, no fallback
    assert nothing_charged(gateway)
