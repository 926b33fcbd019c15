"""The `smollm3` route end to end against an OpenAI-compatible server with vLLM's wire format.

The harness's second llama.cpp server stands in for vLLM: same endpoints, same
``response_format: json_schema``; the route is configured exactly as in production
(``VERDICTS_INFERENCE_VLLM_URL`` / ``VERDICTS_INFERENCE_VLLM_MODEL``), only the address differs.
"""

from __future__ import annotations

import nats
import pytest
from litestar.testing import AsyncTestClient

from verdicts.contracts import InferenceReply, InferenceRequest, Message
from verdicts.inference.app import create_app
from verdicts.platform.inference_client import request_inference
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import VLLM_STAND_IN_MODEL

pytestmark = [pytest.mark.integration, pytest.mark.model]

PICK = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["ship", "skip"]},
        "reason": {"type": "string", "minLength": 10, "maxLength": 160},
    },
    "required": ["verdict", "reason"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
async def nc(settings, llama_server, vllm_stand_in, monkeypatch_module):
    monkeypatch_module.setenv("VERDICTS_MODEL_URL", llama_server.url)
    monkeypatch_module.setenv("VERDICTS_INFERENCE_VLLM_URL", vllm_stand_in.url)
    monkeypatch_module.setenv("VERDICTS_INFERENCE_VLLM_MODEL", VLLM_STAND_IN_MODEL)
    async with AsyncTestClient(build_app([create_app()], settings)):
        conn = await nats.connect(settings.nats_url)
        yield conn
        await conn.close()


async def test_smollm3_route_answers_from_its_own_server_without_falling_back(nc):
    request = InferenceRequest(
        route="smollm3",
        messages=(
            Message(role="system", content="You judge developer tools. Answer in JSON."),
            Message(role="user", content="Should a team ship with a well-documented open-source CLI?"),
        ),
        json_schema=PICK,
        max_tokens=96,
        temperature=0.0,
        seed=11,
        caller="test-smollm3",
    )
    reply = await request_inference(nc, request, timeout_s=60)
    assert isinstance(reply, InferenceReply), reply
    assert reply.route == "smollm3"
    assert reply.fallback_from is None
    assert reply.backend == "openai-compatible"
    assert reply.model == VLLM_STAND_IN_MODEL  # the stand-in answered, not the local server
    assert reply.answer["verdict"] in ("ship", "skip")
    assert 10 <= len(reply.answer["reason"]) <= 160
    assert reply.usage.tokens_out > 0
