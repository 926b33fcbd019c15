"""One generation request as it travels the gateway: route, prompt, limits, and one deadline."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verdicts.contracts import InferenceRequest, Message
from verdicts.inference.routes import Route
from verdicts.platform.backoff import monotonic_deadline


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """Everything one request needs, bundled once at receipt.

    ``deadline`` is an instant on the ``time.monotonic()`` clock (the asyncio loop's):
    the caller's deadline, or receipt + the route's timeout when the caller set none,
    never later than that. Retries, the repair call and the fallback all reuse it.
    """

    route: Route
    messages: tuple[Message, ...]
    schema: dict[str, Any] | None
    max_tokens: int
    temperature: float
    seed: int | None
    deadline: float
    caller: str

    @classmethod
    def start(
        cls,
        route: Route,
        messages: tuple[Message, ...] | list[Message],
        *,
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        deadline: datetime | None,
        caller: str,
    ) -> GenerationJob:
        latest = time.monotonic() + route.timeout_s
        return cls(
            route=route,
            messages=tuple(messages),
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            deadline=latest if deadline is None else min(latest, monotonic_deadline(deadline)),
            caller=caller,
        )

    @classmethod
    def from_request(cls, route: Route, request: InferenceRequest) -> GenerationJob:
        return cls.start(
            route,
            request.messages,
            schema=request.json_schema,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            deadline=request.deadline,
            caller=request.caller,
        )

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def on(self, route: Route) -> GenerationJob:
        """The same request, deadline included, on another route (the fallback)."""
        return dataclasses.replace(self, route=route)

    def saying(self, messages: tuple[Message, ...]) -> GenerationJob:
        """The same request with another conversation (the repair call)."""
        return dataclasses.replace(self, messages=messages)
