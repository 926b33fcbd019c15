"""The one request/reply contract over every model backend (``inference.generate``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from verdicts.contracts import subjects
from verdicts.contracts.base import Contract


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Message(Contract):
    role: Role
    content: str = Field(min_length=1)


class InferenceRequest(Contract):
    SUBJECT: ClassVar[str] = subjects.INFERENCE_GENERATE
    TYPE: ClassVar[str] = "verdicts.inference.request.v1"
    type: Literal["verdicts.inference.request.v1"] = "verdicts.inference.request.v1"
    route: str = Field(min_length=1)
    messages: tuple[Message, ...] = Field(min_length=1)
    json_schema: dict[str, Any] = Field(description="The JSON schema the answer must follow")
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    temperature: float = Field(default=0.2, ge=0, le=2)
    seed: int | None = None
    deadline: datetime | None = Field(
        default=None,
        description=(
            "Absolute time (UTC) after which the caller no longer wants the answer: every retry, "
            "repair and fallback happens before it, and nothing is sent upstream or paid after it. "
            "Callers should always set it; when absent, the gateway sets one at receipt "
            "(now + the route's timeout). Already past on arrival: deadline_exceeded, nothing sent."
        ),
    )
    caller: str = Field(min_length=1)


class Usage(Contract):
    tokens_in: int = Field(ge=0, description="All input tokens, cached ones included")
    tokens_out: int = Field(ge=0)
    cache_read_tokens: int = Field(default=0, ge=0, description="Input tokens read from a prompt cache")
    cache_write_tokens: int = Field(default=0, ge=0, description="Input tokens written to a prompt cache")


class InferenceReply(Contract):
    TYPE: ClassVar[str] = "verdicts.inference.reply.v1"
    type: Literal["verdicts.inference.reply.v1"] = "verdicts.inference.reply.v1"
    answer: dict[str, Any]
    raw_text: str
    route: str
    backend: str
    model: str
    usage: Usage
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = Field(ge=0)
    finish_reason: str
    fallback_from: str | None = None


class InferenceErrorKind(StrEnum):
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"  # the upstream did not answer in the time the deadline left it
    DEADLINE_EXCEEDED = "deadline_exceeded"  # the caller's deadline passed before anything was sent
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    BUDGET_EXCEEDED = "budget_exceeded"
    INVALID_OUTPUT = "invalid_output"
    UPSTREAM_ERROR = "upstream_error"


class InferenceError(Contract):
    TYPE: ClassVar[str] = "verdicts.inference.error.v1"
    type: Literal["verdicts.inference.error.v1"] = "verdicts.inference.error.v1"
    kind: InferenceErrorKind
    message: str
    retryable: bool
    retry_after_s: float | None = Field(default=None, ge=0)
    route: str | None = None


InferenceAnswer = Annotated[InferenceReply | InferenceError, Field(discriminator="type")]
"""What comes back to an ``inference.generate`` request: a reply or an error, told by ``type``."""
