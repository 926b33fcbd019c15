"""Calling ``inference.generate`` over NATS request/reply: a typed reply or a typed error."""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient

from verdicts.contracts import InferenceError, InferenceReply, InferenceRequest
from verdicts.contracts.subjects import INFERENCE_GENERATE


def parse_inference_answer(data: bytes) -> InferenceReply | InferenceError:
    payload = json.loads(data)
    if payload.get("type") == InferenceError.TYPE:
        return InferenceError.model_validate(payload)
    return InferenceReply.model_validate(payload)


async def request_inference(
    nc: NatsClient, request: InferenceRequest, *, timeout_s: float
) -> InferenceReply | InferenceError:
    msg = await nc.request(
        INFERENCE_GENERATE,
        request.model_dump_json().encode(),
        timeout=timeout_s,
        headers={"content-type": "application/json"},
    )
    return parse_inference_answer(msg.data)
