"""A local OpenAI-compatible chat server that counts requests and can hold or refuse them.

Each request takes the next scripted behaviour (default: a valid answer at once).
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
class Step:
    kind: str  # ok | hold (answer once released) | overloaded (503) | bad_schema (400)
    retry_after: float | None = None


@dataclass
class FakeOpenAI:
    answer: dict[str, Any]
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def respond(self, body: dict[str, Any]) -> Response[Any]:
        step = self.script.pop(0) if self.script else Step("ok")
        if step.kind == "hold":
            await self.release.wait()
        if step.kind == "overloaded":
            headers = {"retry-after": str(step.retry_after)} if step.retry_after is not None else {}
            return Response({"error": {"message": "busy"}}, status_code=503, headers=headers)
        if step.kind == "bad_schema":
            return Response({"error": {"code": 400, "message": "bad grammar"}}, status_code=400)
        return Response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(self.answer)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38},
            }
        )


@contextlib.asynccontextmanager
async def fake_openai(answer: dict[str, Any]) -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(answer)

    @post("/v1/chat/completions", status_code=200)
    async def chat(request: Request[Any, Any, Any]) -> Response[Any]:
        body = json.loads(await request.body())
        fake.requests.append(body)
        return await fake.respond(body)

    async with served(Litestar([chat]), lifespan="off") as url:
        fake.url = f"{url}/v1"
        try:
            yield fake
        finally:
            fake.release.set()
