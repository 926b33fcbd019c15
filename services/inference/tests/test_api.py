"""inference's HTTP API in the platform's app (keys, guards, PostgreSQL ledger): a gateway with an
in-process upstream, no model server."""

from __future__ import annotations

import json

import openai
import pytest
from api_testing import api_app, bearer
from litestar.testing import AsyncTestClient
from route_testing import small_route
from test_handlers import AnsweringBackend

from verdicts.inference.api import CHAT_BODY_LIMIT
from verdicts.inference.domain import BackendKind
from verdicts.inference.gateway import Gateway
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope, parse_key

pytestmark = pytest.mark.integration

VERDICT = {"type": "object", "properties": {"v": {"enum": ["ship", "skip"]}}, "required": ["v"]}
ROUTE = small_route()
SHIP = '{"v": "ship"}'


@pytest.fixture(scope="module")
async def served(settings):
    backend = AnsweringBackend(SHIP)
    gateway = Gateway({"r": ROUTE}, {BackendKind.OPENAI.value: backend})
    async with AsyncTestClient(api_app(gateway, settings)) as client:
        yield client, backend


@pytest.fixture(scope="module")
async def key(served, database_url) -> str:
    return await grant(database_url, Scope.INFERENCE, name="inference-tests")


@pytest.fixture
async def api(served, key):
    """The served app with a client that sends the key, and an upstream that starts afresh."""
    client, backend = served
    backend.texts, backend.calls = [SHIP], 0
    client.headers.update(bearer(key))
    yield client, backend
    client.headers.pop("Authorization", None)


def chat(**patch) -> dict:
    return {"model": "r", "messages": [{"role": "user", "content": "Ship or skip?"}], **patch}


async def test_the_openai_sdk_gets_a_schema_valid_completion(api, key):
    client, _ = api
    client.headers.pop("Authorization")  # the SDK sends its api_key as the bearer
    sdk = openai.AsyncOpenAI(
        base_url=str(client.base_url) + "/v1", api_key=key, http_client=client, max_retries=0
    )
    completion = await sdk.chat.completions.create(
        model="r",
        messages=[{"role": "system", "content": "Judge."}, {"role": "user", "content": "Ship or skip?"}],
        max_tokens=16,
        temperature=0,
        seed=3,
        user="someone",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "v", "schema": VERDICT, "strict": True},
        },
        # Fields this endpoint does not use are tolerated, as OpenAI-compatible servers do.
        top_p=1,
        n=1,
        stop=None,
        presence_penalty=0,
        frequency_penalty=0,
        metadata={"k": "v"},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"v": "ship"}
    assert completion.usage is not None
    assert completion.usage.total_tokens == 8
    assert completion.model == "m"
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["r"]
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])


async def test_a_completion_carries_the_route_and_its_cost(api):
    client, _ = api
    response = await client.post("/v1/chat/completions", json=chat(max_tokens=16))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": '{"v": "ship"}'}
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert body["verdicts"] == {"route": "r", "backend": "answering", "cost_usd": "0.000011"}


async def test_json_object_without_a_schema_asks_for_any_object(api):
    client, backend = api
    backend.texts = ["[1]", '{"any": 1}']
    response = await client.post("/v1/chat/completions", json=chat(response_format={"type": "json_object"}))
    assert response.status_code == 200
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"any": 1}
    assert backend.calls == 2  # the array was repaired into an object


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (chat(messages=[]), "messages"),
        (chat(temperature=3), "temperature"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(response_format={"type": "xml"}), "response_format"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        (chat(messages=[{"role": "robot", "content": "hi"}]), "messages.0.role"),
        ([chat()], "body"),
    ],
    ids=["no messages", "temperature", "max_tokens", "response format", "no model", "role", "not an object"],
)
async def test_an_invalid_body_is_openais_400_naming_the_field(api, body, field):
    client, backend = api
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "bad-request"
    assert problem["field"].startswith(field)
    assert backend.calls == 0


async def test_a_gateway_refusal_keeps_its_problem_and_status(api):
    client, _ = api
    response = await client.post("/v1/chat/completions", json=chat(max_tokens=65))
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "bad-request"
    assert problem["kind"] == "bad_request"
    assert problem["retryable"] is False
    assert "max_tokens must be 1..64" in problem["detail"]


async def test_malformed_json_wrong_media_type_and_oversized_bodies_are_refused(api):
    client, backend = api
    malformed = await client.post(
        "/v1/chat/completions", content=b'{"model": "r", "messa', headers={"content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed-json")
    for body in (b"", b"\x80\x81"):
        refused = await client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
            400,
            "malformed-json",
            "body",
        )
    text = await client.post("/v1/chat/completions", content=b"hi", headers={"content-type": "text/plain"})
    assert (text.status_code, text.json()["code"]) == (415, "unsupported-media-type")
    huge = json.dumps(chat(messages=[{"role": "user", "content": "x" * CHAT_BODY_LIMIT}]))
    too_big = await client.post(
        "/v1/chat/completions", content=huge.encode(), headers={"content-type": "application/json"}
    )
    assert (too_big.status_code, too_big.json()["code"]) == (413, "body-too-large")
    assert backend.calls == 0


async def test_models_list_routes_with_health_and_metrics_are_exposed(api):
    client, _ = api
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert models["data"] == [
        {
            "id": "r",
            "object": "model",
            "owned_by": "openai",
            "model": "m",
            "backend": "openai",
            "circuit": "closed",
            "health": "ok",
            "queue": 0,
            "running": 0,
        }
    ]
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "verdicts_inference_queue_depth" in metrics.text


async def test_openapi_carries_request_and_response_schemas(api):
    client, _ = api
    spec = (await client.get("/schema/openapi.json")).json()
    chat_op = spec["paths"]["/v1/chat/completions"]["post"]
    assert chat_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ChatCompletionRequest"
    )
    assert chat_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ChatCompletion"
    )
    models_op = spec["paths"]["/v1/models"]["get"]
    assert models_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ModelList"
    )
    assert "/metrics" not in spec["paths"]
    assert chat_op["security"] == [{"apiKey": ["inference"]}]
    assert {"400", "401", "403", "429", "503", "504"} <= set(chat_op["responses"])
    assert models_op["security"] == [{"apiKey": ["inference"]}]


async def test_chat_without_a_key_is_401_with_a_challenge_and_nothing_sent_upstream(served):
    client, backend = served
    backend.calls = 0
    answer = await client.post("/v1/chat/completions", json=chat())
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    # The key is asked for before the body is looked at.
    text = await client.post("/v1/chat/completions", content=b"hi", headers={"content-type": "text/plain"})
    assert text.status_code == 401
    assert backend.calls == 0


async def test_models_without_a_key_is_401_and_metrics_stay_public(served):
    client, _ = served
    answer = await client.get("/v1/models")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/metrics")).status_code == 200


async def test_a_key_without_the_inference_scope_is_403(served, database_url):
    client, backend = served
    backend.calls = 0
    other = await grant(database_url, Scope.REVIEWS_RERUN)
    for answer in (
        await client.post("/v1/chat/completions", json=chat(), headers=bearer(other)),
        await client.get("/v1/models", headers=bearer(other)),
    ):
        assert answer.status_code == 403
        assert answer.json()["required_scope"] == "inference"
    assert backend.calls == 0


async def test_the_ledger_records_the_key_not_the_user_field(api, key, db):
    client, _ = api
    response = await client.post("/v1/chat/completions", json=chat(max_tokens=16, user="mallory"))
    assert response.status_code == 200, response.text
    row = await db.fetchrow("SELECT caller FROM inference.usage ORDER BY id DESC LIMIT 1")
    assert row["caller"] == f"key:{parse_key(key)}"
    assert not await db.fetchval("SELECT count(*) FROM inference.usage WHERE caller = 'mallory'")
