"""``inference.generate``: request/reply in the ``inference`` queue group (replicas share work).

A typed ``InferenceRequest`` in; an ``InferenceReply`` or a typed ``InferenceError`` back to the
reply subject, also for a request that is not one (malformed JSON, missing fields).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from faststream import Context, Depends
from faststream.message import StreamMessage
from faststream.middlewares import ExceptionMiddleware
from faststream.nats import NatsBroker, NatsRouter
from pydantic import ValidationError

from verdicts.contracts import InferenceError, InferenceErrorKind, InferenceReply, InferenceRequest
from verdicts.contracts.subjects import INFERENCE_GENERATE, INFERENCE_QUEUE_GROUP
from verdicts.inference.domain import GatewayError
from verdicts.inference.gateway import Gateway

GATEWAY = "inference_gateway"
"""The FastStream context key the service's one gateway is set under at start-up."""


MESSAGE = "request"
"""The name of the subscriber's message argument (where its validation errors are located)."""


def current_gateway(gateway: Annotated[Gateway, Context(GATEWAY)]) -> Gateway:
    """The service's gateway (unit tests override this dependency with their own)."""
    return gateway


Gateways = Annotated[Gateway, Depends(current_gateway, cast=False)]


async def json_body(msg: StreamMessage[Any]) -> Any:
    """The body as JSON whatever its content type (callers need not set one); malformed raises."""
    return json.loads(msg.body)


def not_a_request(exc: ValidationError) -> InferenceError:
    """A message that is not an ``InferenceRequest``, as a typed, final error."""
    errors = exc.errors(include_url=False)
    if not errors or errors[0]["loc"][:1] != (MESSAGE,):
        raise exc  # not the message's validation: a fault of ours, not the caller's
    where = ".".join(str(p) for p in errors[0]["loc"][1:]) or "body"
    return malformed(f"{where}: {errors[0]['msg']}")


def not_json(exc: ValueError) -> InferenceError:
    """A body that is not JSON (or not UTF-8), as a typed, final error."""
    return malformed(f"body: not JSON ({exc})")


def malformed(why: str) -> InferenceError:
    return InferenceError(
        kind=InferenceErrorKind.BAD_REQUEST, message=f"malformed request: {why}", retryable=False
    )


def register(router: NatsRouter | NatsBroker) -> None:
    # A request that is not one is answered (a typed error), never left to time out.
    refusals = ExceptionMiddleware(
        publish_handlers={
            ValidationError: not_a_request,
            json.JSONDecodeError: not_json,
            UnicodeDecodeError: not_json,
        }
    )
    generation = NatsRouter(middlewares=[refusals])

    @generation.subscriber(
        INFERENCE_GENERATE,
        queue=INFERENCE_QUEUE_GROUP,
        decoder=json_body,
        title="inference.generate",
        description="InferenceRequest in; InferenceReply or InferenceError back to the reply subject.",
    )
    async def generate(request: InferenceRequest, gateway: Gateways) -> InferenceReply | InferenceError:
        try:
            return await gateway.generate(request)
        except GatewayError as exc:
            return exc.contract()

    router.include_router(generation)
