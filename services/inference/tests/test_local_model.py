"""The inference service over NATS and HTTP against the real llama.cpp server (SmolLM2-135M)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import nats
import openai
import pytest
import yaml
from litestar.testing import AsyncTestClient

from verdicts.contracts import InferenceError, InferenceReply, InferenceRequest, Message
from verdicts.contracts.subjects import INFERENCE_GENERATE
from verdicts.inference.app import create_app
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.inference_client import parse_inference_answer, request_inference
from verdicts.platform.service import build_app

pytestmark = [pytest.mark.integration, pytest.mark.model]

VERDICT = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["ship", "skip"]},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["verdict", "reason"],
}


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory, llama_server):
    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text(
        yaml.safe_dump(
            [
                {"name": "local", "base_url": llama_server.url},
                {
                    "name": "local-budgeted",
                    "backend": "openai",
                    "base_url": llama_server.url,
                    "model": "smollm2-135m-instruct",
                    "dialect": "json_schema",
                    "context_tokens": 2048,
                    "max_output_tokens": 256,
                    "price_in_per_mtok": 1000,
                    "price_out_per_mtok": 1000,
                    # One request holds up to 0.388 USD (prompt estimate and 80 tokens out, and
                    # a repair call's, at 1000 USD/MTok); any real call spends more than 0.012.
                    "daily_budget_usd": 0.40,
                },
                {"name": "smollm3", "base_url": "http://127.0.0.1:9/v1", "max_attempts": 1},
            ]
        )
    )
    return path


@pytest.fixture(scope="module")
async def client(settings, routes_file, llama_server, monkeypatch_module):
    monkeypatch_module.setenv("VERDICTS_MODEL_URL", llama_server.url)
    monkeypatch_module.setenv("VERDICTS_INFERENCE_ROUTES_FILE", str(routes_file))
    async with AsyncTestClient(build_app([create_app()], settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def key(client, database_url) -> str:
    return await grant(database_url, Scope.INFERENCE, name="local-model-tests")


@pytest.fixture(scope="module")
async def nc(nats_url, client):
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


def ask(route: str = "local", **patch) -> InferenceRequest:
    fields = {
        "route": route,
        "messages": (
            Message(role="system", content="You judge developer tools. Answer in JSON."),
            Message(role="user", content="Should a team ship with a well-documented open-source CLI? "),
        ),
        "json_schema": VERDICT,
        "max_tokens": 80,
        "temperature": 0.0,
        "seed": 7,
        "caller": "test",
    }
    return InferenceRequest(**(fields | patch))


async def test_schema_valid_answer_from_the_real_local_model_over_nats(nc, database_url):
    reply = await request_inference(nc, ask(), timeout_s=60)
    assert isinstance(reply, InferenceReply), reply
    assert reply.answer["verdict"] in ("ship", "skip")
    assert isinstance(reply.answer["reason"], str)
    assert reply.route == "local"
    assert reply.backend == "openai-compatible"
    assert reply.model.endswith(".gguf") or "smollm2" in reply.model.lower()
    assert reply.usage.tokens_in > 0
    assert reply.usage.tokens_out > 0
    assert reply.latency_ms > 0
    conn = await asyncpg.connect(database_url)
    try:
        # Written before the reply went out.
        row = await conn.fetchrow(
            "SELECT * FROM inference.usage WHERE caller = 'test' ORDER BY id DESC LIMIT 1"
        )
    finally:
        await conn.close()
    assert row["route"] == "local"
    assert row["tokens_out"] == reply.usage.tokens_out


BAD_REQUESTS = {
    "empty messages": b'{"route": "local", "messages": [], "json_schema": {"type": "object"}, "caller": "t"}',
    "malformed json": b'{"route": "local", "messa',
    "not an object": b"[1, 2, 3]",
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
async def test_a_malformed_request_gets_a_typed_error(nc, case):
    msg = await nc.request(INFERENCE_GENERATE, BAD_REQUESTS[case], timeout=10)
    error = parse_inference_answer(msg.data)
    assert isinstance(error, InferenceError)
    assert error.kind == "bad_request"
    assert not error.retryable


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (ask(route="nope"), "unknown route"),
        (ask(max_tokens=5000), "max_tokens must be"),
        (
            ask(json_schema={"type": "object", "properties": {"x": {"type": "strin"}}}),
            "not a valid JSON schema",
        ),
        (ask(messages=(Message(role="user", content="word " * 3000),)), "exceeds the 2048-token context"),
    ],
    ids=["unknown route", "max tokens out of range", "invalid schema", "prompt longer than context"],
)
async def test_bad_requests_are_refused_before_any_upstream_call(nc, request_, words, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM inference.usage")
        error = await request_inference(nc, request_, timeout_s=10)
        after = await conn.fetchval("SELECT count(*) FROM inference.usage")
    finally:
        await conn.close()
    assert isinstance(error, InferenceError)
    assert error.kind == "bad_request"
    assert words in error.message
    assert after == before
    # ... and the service keeps serving.
    assert isinstance(await request_inference(nc, ask(max_tokens=40), timeout_s=60), InferenceReply)


async def test_a_schema_llama_cpp_cannot_compile_is_a_bad_request_not_retried_or_charged(
    nc, database_url, client
):
    # Valid JSON Schema (a $ref may point anywhere), but llama.cpp's grammar compiler
    # cannot resolve it and answers HTTP 400.
    schema = {"type": "object", "properties": {"v": {"$ref": "#/$defs/nope"}}, "required": ["v"]}
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM inference.usage")
        error = await request_inference(nc, ask(json_schema=schema), timeout_s=30)
        after = await conn.fetchval("SELECT count(*) FROM inference.usage")
    finally:
        await conn.close()
    assert isinstance(error, InferenceError)
    assert error.kind == "bad_request"
    assert not error.retryable
    assert "cannot resolve $ref" in error.message  # llama.cpp's own words
    assert after == before
    metrics = (await client.get("/metrics")).text
    assert 'verdicts_inference_requests_total{outcome="bad_request",route="local"} 1.0' in metrics


async def test_a_deadline_already_past_is_refused_over_the_bus(nc):
    late = ask(deadline=datetime.now(UTC) - timedelta(seconds=1))
    error = await request_inference(nc, late, timeout_s=10)
    assert isinstance(error, InferenceError)
    assert error.kind == "deadline_exceeded"
    assert not error.retryable


async def test_the_daily_budget_stops_a_route(nc):
    first = await request_inference(nc, ask(route="local-budgeted"), timeout_s=60)
    assert isinstance(first, InferenceReply)
    second = await request_inference(nc, ask(route="local-budgeted"), timeout_s=60)
    assert isinstance(second, InferenceError)
    assert second.kind == "budget_exceeded"
    assert second.retry_after_s is not None


async def test_fallback_route_is_recorded(nc):
    reply = await request_inference(nc, ask(route="smollm3", max_tokens=60), timeout_s=60)
    assert isinstance(reply, InferenceReply), reply
    assert reply.route == "local"
    assert reply.fallback_from == "smollm3"


async def test_openai_sdk_against_chat_completions(client, key):
    # The SDK sends its api_key as the bearer: a Verdicts key with the inference scope.
    sdk = openai.AsyncOpenAI(
        base_url=str(client.base_url) + "/v1", api_key=key, http_client=client, max_retries=0
    )
    completion = await sdk.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "Say ship or skip for a stable CLI tool."}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": VERDICT}},
    )
    answer = json.loads(completion.choices[0].message.content)
    assert answer["verdict"] in ("ship", "skip")
    models = await sdk.models.list()
    ids = {m.id for m in models.data}
    assert {"local", "smollm3", "claude-sonnet-4"} <= ids
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])


async def test_models_and_metrics(client, key):
    models = (await client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})).json()["data"]
    local = next(m for m in models if m["id"] == "local")
    assert local["health"] == "ok"
    assert local["circuit"] == "closed"
    metrics = (await client.get("/metrics")).text
    assert 'verdicts_inference_requests_total{outcome="ok",route="local"}' in metrics
    assert "verdicts_inference_tokens_total" in metrics
    assert "verdicts_inference_latency_seconds_bucket" in metrics
    assert "verdicts_inference_queue_depth" in metrics
