"""Model backends: each turns one completion call into text + usage, or a GatewayError."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from verdicts.inference.domain import GenerationJob, Route


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    parsed: dict[str, Any] | None  # set when the backend returns structured input (tool use)
    tokens_in: int
    tokens_out: int
    finish_reason: str
    model: str
    cache_read_tokens: int = 0  # of tokens_in: read from the upstream's prompt cache
    cache_write_tokens: int = 0  # of tokens_in: written to it

    def cost(self, route: Route) -> Decimal:
        return route.cost(self.tokens_in, self.tokens_out, self.cache_read_tokens, self.cache_write_tokens)


class Backend(Protocol):
    name: str

    async def complete(self, job: GenerationJob) -> Completion:
        """One upstream call for ``job``, given ``job.seconds_left()`` at most; no retries."""
        ...

    async def health(self, route: Route) -> str:
        """``ok`` (or ``configured``) when ``route`` can be served, else a short reason."""
        ...
