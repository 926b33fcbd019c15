"""inference.generate on FastStream's in-memory broker: no nats-server, no model server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from pydantic import ValidationError
from route_testing import small_route

from verdicts.contracts import (
    InferenceError,
    InferenceErrorKind,
    InferenceReply,
    InferenceRequest,
    Message,
)
from verdicts.contracts.inference import Usage
from verdicts.contracts.subjects import INFERENCE_GENERATE
from verdicts.inference.backends import Completion
from verdicts.inference.domain import BackendKind, GatewayError, GenerationJob, Route
from verdicts.inference.gateway import Gateway, TokenMeter
from verdicts.inference.handlers import current_gateway, register
from verdicts.platform.inference_client import parse_inference_answer

pytestmark = pytest.mark.unit

SCHEMA = {"type": "object", "properties": {"v": {"enum": ["ship", "skip"]}}, "required": ["v"]}


def ask(**patch: Any) -> InferenceRequest:
    fields: dict[str, Any] = {
        "route": "r",
        "messages": (Message(role="user", content="Ship or skip?"),),
        "json_schema": SCHEMA,
        "max_tokens": 16,
        "caller": "test",
        "deadline": datetime.now(UTC) + timedelta(seconds=10),
    }
    return InferenceRequest(**(fields | patch))


class ScriptedGateway:
    """Stands in for the gateway: answers or refuses, and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[InferenceRequest] = []
        self.refusal: GatewayError | None = None

    async def generate(self, request: InferenceRequest) -> InferenceReply:
        self.requests.append(request)
        if self.refusal is not None:
            raise self.refusal
        return InferenceReply(
            answer={"v": "ship"},
            raw_text='{"v": "ship"}',
            route=request.route,
            backend="scripted",
            model="m",
            usage=Usage(tokens_in=3, tokens_out=4),
            cost_usd=Decimal("0.00001"),
            latency_ms=1.0,
            finish_reason="stop",
        )


class AnsweringBackend:
    """An upstream that answers every call with ``text`` (first), then ``repair`` if asked again."""

    name = "answering"

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.calls = 0

    async def complete(self, job: GenerationJob) -> Completion:
        text = self.texts[min(self.calls, len(self.texts) - 1)]
        self.calls += 1
        return Completion(text=text, parsed=None, tokens_in=5, tokens_out=3, finish_reason="stop", model="m")

    async def health(self, route: Route) -> str:
        return "ok"


def gateway_with(backend: AnsweringBackend) -> Gateway:
    route = small_route()
    return Gateway({"r": route}, {BackendKind.OPENAI.value: backend})


@pytest.fixture
async def bus():
    broker = NatsBroker()
    register(broker)
    gateway = ScriptedGateway()
    # Scoped: FastStream's dependency provider is shared by every broker in the process.
    with broker.provider.scope(current_gateway, lambda: gateway):
        async with TestNatsBroker(broker) as test_broker:
            yield test_broker, gateway


async def answer(broker: NatsBroker, body: bytes | str) -> InferenceReply | InferenceError:
    response = await broker.request(
        body if isinstance(body, bytes) else body.encode(), INFERENCE_GENERATE, timeout=5
    )
    return parse_inference_answer(response.body)


async def test_a_request_is_answered_with_the_gateways_reply(bus):
    broker, gateway = bus
    reply = await answer(broker, ask().model_dump_json())
    assert isinstance(reply, InferenceReply)
    assert reply.answer == {"v": "ship"}
    assert reply.cost_usd == Decimal("0.00001")
    assert [r.caller for r in gateway.requests] == ["test"]


async def test_a_gateway_refusal_is_a_typed_error(bus):
    broker, gateway = bus
    gateway.refusal = GatewayError(InferenceErrorKind.OVERLOADED, "r: busy", retry_after_s=2.0, route="r")
    error = await answer(broker, ask().model_dump_json())
    assert isinstance(error, InferenceError)
    assert error.kind is InferenceErrorKind.OVERLOADED
    assert error.retryable
    assert error.retry_after_s == 2.0
    assert error.route == "r"


MALFORMED = {
    "empty messages": (b'{"route": "r", "messages": [], "json_schema": {}, "caller": "t"}', "messages"),
    "missing caller": (
        b'{"route": "r", "messages": [{"role": "user", "content": "hi"}], "json_schema": {}}',
        "caller",
    ),
    "malformed json": (b'{"route": "r", "messa', "body"),
    "not an object": (b"[1, 2, 3]", "body"),
    "not utf-8": (b'{"route": "\x80"}', "body: not JSON"),
    "bad role": (
        b'{"route": "r", "messages": [{"role": "robot", "content": "hi"}], "json_schema": {}, "caller": "t"}',
        "messages.0.role",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
async def test_a_message_that_is_not_a_request_gets_a_final_bad_request(bus, case):
    broker, gateway = bus
    body, where = MALFORMED[case]
    error = await answer(broker, body)
    assert isinstance(error, InferenceError)
    assert error.kind is InferenceErrorKind.BAD_REQUEST
    assert not error.retryable
    assert error.message.startswith(f"malformed request: {where}")
    assert gateway.requests == []


async def test_the_real_gateway_repairs_an_answer_off_the_schema_once():
    backend = AnsweringBackend('{"v": "maybe"}', '{"v": "skip"}')
    broker = NatsBroker()
    register(broker)
    with broker.provider.scope(current_gateway, lambda: gateway_with(backend)):
        async with TestNatsBroker(broker) as test_broker:
            reply = await answer(test_broker, ask().model_dump_json())
    assert isinstance(reply, InferenceReply), reply
    assert reply.answer == {"v": "skip"}
    assert backend.calls == 2
    assert reply.usage.tokens_in == 10
    assert reply.cost_usd == Decimal(10 * 1 + 6 * 2) / 1_000_000


async def test_the_token_meter_counts_every_call_of_a_failed_request():
    backend = AnsweringBackend('{"v": "maybe"}')  # off the schema, repair included
    gateway = gateway_with(backend)
    meter = TokenMeter()
    with pytest.raises(GatewayError) as failed:
        await gateway.run(GenerationJob.from_request(gateway.route("r"), ask()), meter=meter)
    assert failed.value.kind is InferenceErrorKind.INVALID_OUTPUT
    assert backend.calls == 2
    assert meter.tokens == 2 * (5 + 3)


async def test_an_unknown_route_is_refused_before_any_upstream_call():
    backend = AnsweringBackend('{"v": "ship"}')
    broker = NatsBroker()
    register(broker)
    with broker.provider.scope(current_gateway, lambda: gateway_with(backend)):
        async with TestNatsBroker(broker) as test_broker:
            error = await answer(test_broker, ask(route="nope").model_dump_json())
    assert isinstance(error, InferenceError)
    assert error.kind is InferenceErrorKind.BAD_REQUEST
    assert "unknown route" in error.message
    assert backend.calls == 0


def test_answers_are_told_apart_by_their_type():
    error = InferenceError(kind=InferenceErrorKind.TIMEOUT, message="slow", retryable=True)
    assert parse_inference_answer(error.model_dump_json()) == error
    with pytest.raises(ValidationError):
        parse_inference_answer(b'{"type": "verdicts.inference.other.v1"}')
    with pytest.raises(ValidationError):
        parse_inference_answer(b'{"answer": {}}')  # no type: neither
