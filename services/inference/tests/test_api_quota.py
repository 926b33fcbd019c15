"""A key's daily inference token quota on the chat route: the most a request can use is held before
anything goes upstream, and settled at what the upstream counted (success or failure)."""

from __future__ import annotations

import httpx
import pytest
from api_testing import api_app, bearer, tokens_used
from fake_openai import Step, fake_openai
from route_testing import small_route

from verdicts.contracts import Message
from verdicts.inference.backends.openai_compatible import OpenAICompatibleBackend
from verdicts.inference.domain import BackendKind, estimate_tokens
from verdicts.inference.gateway import Gateway
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope, parse_key
from verdicts.platform.testing.plugin import served as served_app

pytestmark = pytest.mark.integration

PROMPT = "Ship or skip?"
MAX_TOKENS = 60
HELD = estimate_tokens([Message(role="user", content=PROMPT)]) + MAX_TOKENS  # no schema: one call
USED = 38  # the fake's usage: 30 prompt + 8 completion tokens
# A second call fits only if the first gave back what it held and did not use; a third never does.
QUOTA = 120
assert HELD + HELD > QUOTA >= USED + HELD
assert USED + USED + HELD > QUOTA


@pytest.fixture(scope="module")
async def served(settings):
    async with fake_openai({"v": "ship"}) as fake:
        route = small_route(base_url=fake.url, max_output_tokens=512, max_attempts=1)
        gateway = Gateway({"r": route}, {BackendKind.OPENAI.value: OpenAICompatibleBackend()})
        app = api_app(gateway, settings, key_inference_tokens_per_day=QUOTA)
        # Served on this loop, as the fake is (the test client would block the loop the fake runs on).
        async with served_app(app) as url, httpx.AsyncClient(base_url=url) as client:
            yield client, fake


def chat(**patch) -> dict:
    return {
        "model": "r",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        **patch,
    }


async def test_a_spent_quota_is_429_and_nothing_reaches_the_upstream(served, database_url):
    client, fake = served
    key = await grant(database_url, Scope.INFERENCE)
    key_id = parse_key(key)
    sent = len(fake.requests)

    for expected_used in (USED, USED + USED):
        answer = await client.post("/v1/chat/completions", json=chat(), headers=bearer(key))
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["total_tokens"] == USED
        # Held at the most, settled at what was used.
        assert await tokens_used(database_url, key_id) == expected_used

    refused = await client.post("/v1/chat/completions", json=chat(), headers=bearer(key))
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate-limited"
    assert len(fake.requests) == sent + 2
    assert await tokens_used(database_url, key_id) == USED + USED

    # Another key has its own quota.
    other = await grant(database_url, Scope.INFERENCE)
    assert (await client.post("/v1/chat/completions", json=chat(), headers=bearer(other))).status_code == 200


async def test_bad_input_is_refused_before_the_quota_is_touched(served, database_url):
    client, fake = served
    key = await grant(database_url, Scope.INFERENCE)
    sent = len(fake.requests)
    answer = await client.post("/v1/chat/completions", json=chat(max_tokens=513), headers=bearer(key))
    assert answer.status_code == 400
    assert await tokens_used(database_url, parse_key(key)) == 0
    assert len(fake.requests) == sent


async def test_a_failed_call_gives_back_everything_it_held(served, database_url):
    client, fake = served
    fake.script = [Step("overloaded")]
    key = await grant(database_url, Scope.INFERENCE)
    answer = await client.post("/v1/chat/completions", json=chat(), headers=bearer(key))
    assert answer.status_code == 503, answer.text
    assert await tokens_used(database_url, parse_key(key)) == 0


async def test_admin_keys_are_not_counted(served, database_url):
    client, _ = served
    admin = await grant(database_url, Scope.ADMIN)
    for _ in range(3):
        answer = await client.post("/v1/chat/completions", json=chat(), headers=bearer(admin))
        assert answer.status_code == 200, answer.text
    assert await tokens_used(database_url, parse_key(admin)) == 0
