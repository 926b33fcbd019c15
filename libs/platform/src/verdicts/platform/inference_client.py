"""Calling ``inference.generate`` over NATS request/reply: a typed reply or a typed error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nats.aio.client import Client as NatsClient
from pydantic import TypeAdapter

from verdicts.contracts import InferenceError, InferenceReply, InferenceRequest
from verdicts.contracts.inference import InferenceAnswer
from verdicts.contracts.subjects import INFERENCE_GENERATE
from verdicts.platform.telemetry import current_trace_headers

REPLY_GRACE_S = 1.0
"""How long past the deadline to wait for the gateway's own answer (e.g. deadline_exceeded)."""


ANSWER: TypeAdapter[InferenceReply | InferenceError] = TypeAdapter(InferenceAnswer)


def parse_inference_answer(data: bytes | str) -> InferenceReply | InferenceError:
    """The reply or the error, told apart by its ``type``; a ``ValidationError`` if neither."""
    return ANSWER.validate_json(data)


def with_deadline(request: InferenceRequest, timeout_s: float) -> InferenceRequest:
    """``request`` carrying an absolute deadline: its own, or now + ``timeout_s``."""
    if request.deadline is not None:
        return request
    return request.model_copy(update={"deadline": datetime.now(UTC) + timedelta(seconds=timeout_s)})


async def request_inference(
    nc: NatsClient, request: InferenceRequest, *, timeout_s: float
) -> InferenceReply | InferenceError:
    """Send ``request`` with a deadline (``timeout_s`` from now unless it has one) and wait for
    the answer until just past that deadline, so the gateway stops working when we stop waiting."""
    request = with_deadline(request, timeout_s)
    assert request.deadline is not None
    deadline = request.deadline if request.deadline.tzinfo else request.deadline.replace(tzinfo=UTC)
    wait_s = max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + REPLY_GRACE_S
    # The caller's trace goes with the request: the gateway's spans (and the model call's) join it.
    headers = {"content-type": "application/json", **current_trace_headers()}
    msg = await nc.request(
        INFERENCE_GENERATE, request.model_dump_json().encode(), timeout=wait_s, headers=headers
    )
    return parse_inference_answer(msg.data)
