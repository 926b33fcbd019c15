"""Model backends: each turns one completion call into text + usage, or a GatewayError."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from verdicts.contracts import InferenceErrorKind
from verdicts.inference.errors import GatewayError
from verdicts.inference.job import GenerationJob
from verdicts.inference.routes import Route


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


def classify_status(
    route: Route, status: int, headers: Any, *, overloaded_status: int, detail: str = ""
) -> GatewayError:
    """An upstream HTTP error as a typed gateway error (429 rate limit, overload, 4xx, 5xx).

    Any other 4xx (e.g. llama.cpp's 400 for a schema its grammar compiler rejects) is
    ``bad_request``: not retried, not repaired, not fallen back from.
    """
    after = retry_after(headers)
    if status == 429:
        return GatewayError(
            InferenceErrorKind.RATE_LIMITED, f"{route.name}: rate limited", retry_after_s=after
        )
    if status == overloaded_status:
        return GatewayError(
            InferenceErrorKind.OVERLOADED, f"{route.name}: upstream overloaded", retry_after_s=after
        )
    if 400 <= status < 500:
        why = f": {detail}" if detail else ""
        return GatewayError(
            InferenceErrorKind.BAD_REQUEST, f"{route.name}: upstream refused the request ({status}){why}"
        )
    return GatewayError(
        InferenceErrorKind.UPSTREAM_ERROR, f"{route.name}: upstream error {status}", retry_after_s=after
    )


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``retry-after`` header (seconds form), if any."""
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_detail(body: object, limit: int = 300) -> str:
    """The upstream's own error message from a JSON error body, shortened."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        return str(message or "")[:limit]
    return str(body or "")[:limit]
