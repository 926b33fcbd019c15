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
    kind: str  # ok | text | rate_limit | spend_limit | overloaded | server_error | slow | garbage
    answer: dict[str, Any] | None = None
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass
class FakeAnthropic:
    script: list[Behaviour] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def respond(self, body: dict[str, Any]) -> Response[Any]:
        behaviour = self.script.pop(0) if self.script else Behaviour("ok", {"verdict": "ship"})
        if behaviour.kind == "ok":
            content = [{"type": "tool_use", "id": "toolu_01", "name": "answer", "input": behaviour.answer}]
            return self._message(body, content, "tool_use")
        if behaviour.kind == "text":
            return self._message(body, [{"type": "text", "text": "I think ship."}], "end_turn")
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

    def _message(self, body: dict[str, Any], content: list[Any], stop: str) -> Response[Any]:
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
                    "input_tokens": 120,
                    "output_tokens": 40,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 800,
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
        behaviour = fake.script[0] if fake.script else None
        if behaviour is not None and behaviour.kind == "slow":
            fake.script.pop(0)
            await asyncio.sleep(behaviour.delay_s)
            return fake.respond(body)
        return fake.respond(body)

    async with served(Litestar([messages]), lifespan="off") as url:
        fake.url = url
        yield fake
