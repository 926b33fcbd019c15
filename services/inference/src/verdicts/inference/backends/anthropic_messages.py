"""Claude through the official anthropic SDK: JSON via a forced tool, cached system prompt.

429 (rate limit) and 529 (overloaded) are told apart; a spend-limit 429 is never
retried (it becomes ``budget_exceeded``).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from verdicts.contracts import InferenceErrorKind, Role
from verdicts.inference.backends import Completion
from verdicts.inference.domain import (
    GatewayError,
    GenerationJob,
    Route,
    classify_status,
    error_detail,
    spend_limit_reached,
)

ANSWER_TOOL = "answer"


class AnthropicBackend:
    name = "anthropic"

    def __init__(self, api_key: str | None, base_url: str | None = None) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "missing", base_url=base_url, max_retries=0
        )
        self._has_key = bool(api_key)

    async def health(self, route: Route) -> str:
        return "configured" if self._has_key else "no api key"

    async def complete(self, job: GenerationJob) -> Completion:
        route, messages, schema = job.route, job.messages, job.schema
        if not self._has_key:
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR,
                f"{route.name}: ANTHROPIC_API_KEY is not set",
                retryable=False,
            )
        system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM)
        kwargs: dict[str, Any] = {}
        if system:
            # The shared system prompt is the same for every tool: cache it.
            kwargs["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        if schema is not None:
            kwargs["tools"] = [
                {"name": ANSWER_TOOL, "description": "Give the answer.", "input_schema": schema}
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
        conversation: list[Any] = [
            {"role": m.role.value, "content": m.content} for m in messages if m.role is not Role.SYSTEM
        ]
        try:
            response = await self._client.messages.create(
                model=route.model,
                max_tokens=job.max_tokens,
                messages=conversation,
                timeout=job.seconds_left(),
                # Not a typed parameter in this SDK release; the Messages API still takes it.
                extra_body={"temperature": job.temperature},
                **kwargs,
            )
        except anthropic.APITimeoutError:
            raise GatewayError(InferenceErrorKind.TIMEOUT, f"{route.name}: upstream timed out") from None
        except anthropic.APIConnectionError as exc:
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR, f"{route.name}: {exc.__class__.__name__}"
            ) from None
        except anthropic.APIStatusError as exc:
            raise classify(route, exc) from None
        except (ValueError, KeyError, TypeError) as exc:  # a body the SDK could not read
            raise GatewayError(
                InferenceErrorKind.UPSTREAM_ERROR, f"{route.name}: unreadable response: {exc}"
            ) from None
        parsed: dict[str, Any] | None = None
        texts: list[str] = []
        for block in response.content:
            if block.type == "tool_use" and block.name == ANSWER_TOOL:
                parsed = block.input if isinstance(block.input, dict) else None
            elif block.type == "text":
                texts.append(block.text)
        text = json.dumps(parsed) if parsed is not None else "".join(texts)
        usage = response.usage
        # input_tokens counts only the uncached part; cache reads and writes are priced apart.
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        return Completion(
            text=text,
            parsed=parsed,
            tokens_in=usage.input_tokens + cache_read + cache_write,
            tokens_out=usage.output_tokens,
            finish_reason=response.stop_reason or "end_turn",
            model=response.model,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )


def classify(route: Route, exc: anthropic.APIStatusError) -> GatewayError:
    status = exc.status_code
    spend_limit = spend_limit_reached(route, status, str(getattr(exc, "message", "") or exc))
    if spend_limit is not None:
        return spend_limit
    return classify_status(
        route, status, exc.response.headers, overloaded_status=529, detail=error_detail(exc.body)
    )
