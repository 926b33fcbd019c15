"""Typed gateway errors, mapped one-to-one onto the ``InferenceError`` contract."""

from __future__ import annotations

from verdicts.contracts import InferenceError, InferenceErrorKind

RETRYABLE = {
    InferenceErrorKind.TIMEOUT,
    InferenceErrorKind.RATE_LIMITED,
    InferenceErrorKind.OVERLOADED,
    InferenceErrorKind.UPSTREAM_ERROR,
}


class GatewayError(Exception):
    def __init__(
        self,
        kind: InferenceErrorKind,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        route: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = kind in RETRYABLE if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.route = route

    def contract(self) -> InferenceError:
        return InferenceError(
            kind=self.kind,
            message=self.message,
            retryable=self.retryable,
            retry_after_s=self.retry_after_s,
            route=self.route,
        )


def bad_request(message: str, route: str | None = None) -> GatewayError:
    return GatewayError(InferenceErrorKind.BAD_REQUEST, message, route=route)


def deadline_exceeded(route: str, when: str) -> GatewayError:
    """The caller's deadline passed: refused without sending anything, never worth a retry."""
    return GatewayError(
        InferenceErrorKind.DEADLINE_EXCEEDED, f"{route}: the deadline passed {when}", route=route
    )
