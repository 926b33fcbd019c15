"""Model backends: each turns one completion call into text + usage, or a GatewayError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from verdicts.contracts import InferenceErrorKind, Message
from verdicts.inference.errors import GatewayError
from verdicts.inference.routes import Route


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    parsed: dict[str, Any] | None  # set when the backend returns structured input (tool use)
    tokens_in: int
    tokens_out: int
    finish_reason: str
    model: str


class Backend(Protocol):
    name: str

    async def complete(
        self,
        route: Route,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        timeout_s: float,
    ) -> Completion: ...


def classify_status(route: Route, status: int, headers: Any, *, overloaded_status: int) -> GatewayError:
    """An upstream HTTP error as a typed gateway error (429 rate limit, overload, 4xx, 5xx)."""
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
        return GatewayError(
            InferenceErrorKind.BAD_REQUEST, f"{route.name}: upstream refused the request ({status})"
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
