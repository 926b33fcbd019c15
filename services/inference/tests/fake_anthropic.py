"""A local stand-in for the paid Anthropic Messages API, speaking its real wire format.

Each request takes the next scripted behaviour; requests are recorded for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, post

from verdicts.platform.testing.plugin import served


@dataclass
class Behaviour:
    # ok | slow (ok after delay_s) | text | rate_limit | spend_limit | overloaded | server_error | garbage
    kind: str
    answer: dict[str, Any] | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    # Usage as the Messages API reports it: input_tokens excludes cache reads and writes.
    input_tokens: int = 120
    output_tokens: int = 40
    cache_read: int = 800
    cache_write: int = 0


@dataclass
class FakeAnthropic:
    script: list[Behaviour] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def respond(self, body: dict[str, Any], behaviour: Behaviour) -> Response[Any]:
        if behaviour.kind in ("ok", "slow"):
            content = [{"type": "tool_use", "id": "toolu_01", "name": "answer", "input": behaviour.answer}]
            return self._message(body, content, "tool_use", behaviour)
        if behaviour.kind == "text":
            return self._message(body, [{"type": "text", "text": "I think ship."}], "end_turn", behaviour)
        if behaviour.kind in ("rate_limit", "spend_limit"):
            message = (
                "You have reached your specified workspace API usage limits."
                if behaviour.kind == "spend_limit"
                else "Number of request tokens has exceeded your per-minute rate limit"
            )
            headers = {"retry-after": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            return self._error(429, "rate_limit_error", message, headers)
        if behaviour.kind == "overloaded":
            return self._error(529, "overloaded_error", "Overloaded", {})
        if behaviour.kind == "server_error":
            return self._error(500, "api_error", "Internal server error", {})
        if behaviour.kind == "garbage":
            return Response(b'{"id": "msg_01", "type": "mess', media_type="application/json")
        raise AssertionError(behaviour.kind)

    def _message(
        self, body: dict[str, Any], content: list[Any], stop: str, behaviour: Behaviour
    ) -> Response[Any]:
        return Response(
            {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": behaviour.input_tokens,
                    "output_tokens": behaviour.output_tokens,
                    "cache_creation_input_tokens": behaviour.cache_write,
                    "cache_read_input_tokens": behaviour.cache_read,
                },
            }
        )

    @staticmethod
    def _error(status: int, kind: str, message: str, headers: dict[str, str]) -> Response[Any]:
        return Response(
            {"type": "error", "error": {"type": kind, "message": message}},
            status_code=status,
            headers=headers,
        )


@contextlib.asynccontextmanager
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()

    @post("/v1/messages", status_code=200)
    async def messages(request: Request[Any, Any, Any]) -> Response[Any]:
        body = json.loads(await request.body())
        fake.requests.append(body)
        fake.headers.append(dict(request.headers))
        behaviour = fake.script.pop(0) if fake.script else Behaviour("ok", {"verdict": "ship"})
        if behaviour.kind == "slow":
            await asyncio.sleep(behaviour.delay_s)
        return fake.respond(body, behaviour)

    async with served(Litestar([messages]), lifespan="off") as url:
        fake.url = url
        yield fake
