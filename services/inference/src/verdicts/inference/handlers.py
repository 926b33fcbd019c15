"""``inference.generate``: request/reply in the ``inference`` queue group (replicas share work)."""

from __future__ import annotations

import logging
from typing import Any

from faststream.message import StreamMessage
from faststream.nats import NatsRouter
from pydantic import ValidationError

from verdicts.contracts import InferenceError, InferenceErrorKind, InferenceRequest
from verdicts.contracts.subjects import INFERENCE_GENERATE, INFERENCE_QUEUE_GROUP
from verdicts.inference.errors import GatewayError
from verdicts.inference.gateway import Gateway

log = logging.getLogger(__name__)


async def raw_body(msg: StreamMessage[Any]) -> bytes:
    """Hand the handler the bytes, so a malformed request gets a typed error, not silence."""
    return msg.body


async def answer(gateway: Gateway, body: bytes) -> dict[str, Any]:
    try:
        request = InferenceRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        error = InferenceError(
            kind=InferenceErrorKind.BAD_REQUEST,
            message=f"malformed request: {where}: {first['msg']}",
            retryable=False,
        )
        return error.model_dump(mode="json")
    try:
        reply = await gateway.generate(request)
    except GatewayError as exc:
        return exc.contract().model_dump(mode="json")
    return reply.model_dump(mode="json")


def register(router: NatsRouter, gateway: Gateway) -> None:
    @router.subscriber(
        INFERENCE_GENERATE,
        queue=INFERENCE_QUEUE_GROUP,
        decoder=raw_body,
        title="inference.generate",
        description="InferenceRequest in; InferenceReply or InferenceError back to the reply subject.",
    )
    async def generate(body: bytes) -> dict[str, Any]:
        return await answer(gateway, body)
